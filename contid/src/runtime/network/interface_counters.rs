//! Traffic counters of the network interfaces a container sees, from `/proc/<pid>/net/dev`.
//!
//! That file is per network namespace: read through a process, it lists exactly the interfaces
//! of that process's namespace (for a container in the host's namespace, the host's).

use std::collections::BTreeMap;

use crate::runtime::{RuntimeError, sys::process};

/// What one interface has received and sent since it was created.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterfaceCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// The counters of every interface in the network namespace of the process `pid` that started
/// at `start_time` (see [`process::start_time`]), by interface name; `None` when that process is
/// gone or exiting (its namespaces are released before it is reaped).
pub fn read_interface_counters(
    pid: i32,
    start_time: u64,
) -> Result<Option<BTreeMap<String, InterfaceCounters>>, RuntimeError> {
    let path = format!("/proc/{pid}/net/dev");
    let read = std::fs::read_to_string(&path);
    // Checked after the read: a pid reused meanwhile must not lend us its namespace's counters.
    if process::start_time(pid) != Some(start_time) {
        return Ok(None);
    }
    match read {
        Ok(text) => Ok(Some(parse_net_dev(&text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(RuntimeError::io(path, e)),
    }
}

/// The text of a `net/dev` file: two header lines, then one line per interface,
/// `<name>: <8 receive counters> <8 transmit counters>`, bytes and packets first in each group.
/// Lines that do not have that shape are skipped.
fn parse_net_dev(text: &str) -> BTreeMap<String, InterfaceCounters> {
    const RX_BYTES: usize = 0;
    const RX_PACKETS: usize = 1;
    const TX_BYTES: usize = 8;
    const TX_PACKETS: usize = 9;
    text.lines()
        .filter_map(|line| {
            // The header lines hold `|` and no `:`; an interface name holds neither.
            let (name, counters) = line.split_once(':')?;
            let counters: Vec<u64> = counters
                .split_ascii_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            if counters.len() < TX_PACKETS + 1 {
                return None;
            }
            Some((
                name.trim().to_string(),
                InterfaceCounters {
                    rx_bytes: counters[RX_BYTES],
                    rx_packets: counters[RX_PACKETS],
                    tx_bytes: counters[TX_BYTES],
                    tx_packets: counters[TX_PACKETS],
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // As Linux 6.1 writes it; the kernel pads names to 6 columns and large counters run into
    // the colon.
    const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0:69711856    3267    0    2    0     0          0         5   202817    1884    0    0    0     0       0          0
veth-long-name: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0
";

    #[test]
    fn every_interface_gets_its_bytes_and_packets_both_ways() {
        let counters = parse_net_dev(NET_DEV);
        assert_eq!(
            counters.keys().collect::<Vec<_>>(),
            ["eth0", "lo", "veth-long-name"]
        );
        assert_eq!(
            counters["lo"],
            InterfaceCounters {
                rx_bytes: 3193,
                rx_packets: 29,
                tx_bytes: 3193,
                tx_packets: 29,
            }
        );
        assert_eq!(
            counters["eth0"],
            InterfaceCounters {
                rx_bytes: 69_711_856,
                rx_packets: 3267,
                tx_bytes: 202_817,
                tx_packets: 1884,
            }
        );
        assert_eq!(
            counters["veth-long-name"],
            InterfaceCounters {
                rx_bytes: 1,
                rx_packets: 2,
                tx_bytes: 3,
                tx_packets: 4,
            }
        );
    }

    #[test]
    fn headers_and_malformed_lines_are_skipped() {
        let counters = parse_net_dev("Inter-| x\n face |bytes\nbad: 1 2 x\nshort: 1 2 3\n\n");
        assert!(counters.is_empty(), "{counters:?}");
    }

    #[test]
    fn a_live_process_sees_at_least_loopback_and_a_stranger_nothing() {
        let pid = std::process::id() as i32;
        let start_time = process::start_time(pid).unwrap();
        let counters = read_interface_counters(pid, start_time).unwrap().unwrap();
        assert!(counters.contains_key("lo"), "{counters:?}");
        assert_eq!(read_interface_counters(pid, start_time + 1).unwrap(), None);
    }
}
