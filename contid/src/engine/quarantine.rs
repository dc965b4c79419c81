//! Container folders whose `container.json` cannot be read (see [`ContainerStore::load_all`]).
//! Their container may still run — its monitor writing its log, its processes in their cgroup,
//! its veth on a bridge — so nothing of them is deleted and nothing adopted: each is left where
//! it is, skipped, logged as an error at every load and listed in `/v1/info` until an operator
//! repairs or removes it. Its address, read back from its `hosts` file, stays taken, and its
//! network cannot be removed meanwhile.
//!
//! [`ContainerStore::load_all`]: super::store::ContainerStore::load_all

use std::net::Ipv4Addr;

use conti_proto::QuarantinedContainer;

use crate::runtime::container::etc_files::own_address;
use crate::runtime::process::monitor_lock;

use super::store::Unreadable;
use super::{Engine, Table};

/// A quarantined folder as the table keeps it.
#[derive(Debug, Clone)]
pub(super) struct Quarantined {
    pub info: QuarantinedContainer,
    /// Its address on its network, taken while it is quarantined.
    pub endpoint: Option<(String, Ipv4Addr)>,
}

impl Engine {
    /// At load: looks at what of the container runs and which address it had, reports it, and
    /// keeps its address from new containers.
    pub(super) fn quarantine(&self, folder: Unreadable) {
        let held = monitor_lock::probe(&folder.dir).is_ok_and(|probe| probe.held);
        let processes = self
            .inner
            .cgroups
            .procs(&folder.id)
            .is_ok_and(|pids| !pids.is_empty());
        let running = held || processes;
        let endpoint = own_address(&folder.dir).and_then(|address| {
            let networks = self.networks();
            let network = networks
                .networks
                .values()
                .find(|network| network.subnet.contains(&address))?;
            Some((network.name.clone(), address))
        });
        tracing::error!(
            container = %folder.id,
            dir = %folder.dir.display(),
            reason = %folder.reason,
            running,
            address = ?endpoint,
            "a container folder cannot be read: it is kept where it is and skipped (repair its \
             container.json, or stop what runs of it and remove the folder, then restart contid)"
        );
        let info = QuarantinedContainer {
            id: folder.id,
            path: folder.dir.display().to_string(),
            reason: folder.reason,
            running,
            ip_address: endpoint.as_ref().map(|(_, address)| address.to_string()),
            network: endpoint.as_ref().map(|(network, _)| network.clone()),
        };
        self.table()
            .quarantined
            .push(Quarantined { info, endpoint });
    }
}

impl Table {
    /// Addresses on `network` that quarantined containers hold.
    pub(super) fn quarantined_addresses<'a>(
        &'a self,
        network: &'a str,
    ) -> impl Iterator<Item = Ipv4Addr> + 'a {
        self.quarantined
            .iter()
            .filter_map(|q| q.endpoint.as_ref())
            .filter(move |(on, _)| on == network)
            .map(|(_, address)| *address)
    }
}
