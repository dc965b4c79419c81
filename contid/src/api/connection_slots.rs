//! The connection cap (`--max-connections`), and who gives way when it is reached.
//!
//! A connection is either *waiting* for a request head (just accepted, idle between keep-alive
//! requests, or a slow client dribbling its head) or *serving* a request, from its head until
//! its response has been sent: a `logs -f`, an event or a stats stream serves as long as it
//! lasts. When every slot is taken, a newcomer takes the slot of the connection that has waited
//! longest for a head, which is closed (as nginx reclaims idle keep-alive connections); when
//! every connection is serving, the newcomer is refused (answered 503 by the server). So clients
//! that hold connections without finishing a request (slowloris) cannot lock anyone out, and a
//! request in flight is never cut.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::oneshot;

/// The slots of one listening socket.
#[derive(Debug)]
pub struct ConnectionSlots {
    max: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    connections: HashMap<u64, Occupant>,
}

#[derive(Debug)]
struct Occupant {
    /// Since when it waits for a request head; `None` while it serves one.
    waiting_since: Option<Instant>,
    /// Tells the connection it lost its slot.
    reclaim: oneshot::Sender<()>,
}

/// A connection's place in the table; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    slots: Arc<ConnectionSlots>,
}

/// Resolves when the slot was given to a newcomer: the connection must then close.
pub type Reclaimed = oneshot::Receiver<()>;

/// A request being served on a connection; dropping it (once the response has been sent) makes
/// the connection wait for its next request again.
#[derive(Debug)]
pub struct Serving {
    id: u64,
    slots: Arc<ConnectionSlots>,
    /// Whether the connection waits for a request again once this one is served.
    then_waits: bool,
}

impl ConnectionSlots {
    pub fn new(max: usize) -> Arc<ConnectionSlots> {
        Arc::new(ConnectionSlots {
            max,
            table: Mutex::new(Table::default()),
        })
    }

    /// A slot for a connection just accepted (reclaiming the longest-waiting connection's when
    /// all are taken), or `None` when every connection is serving a request.
    pub fn admit(self: &Arc<Self>) -> Option<(Slot, Reclaimed)> {
        let mut table = self.lock();
        if table.connections.len() >= self.max {
            let longest_waiting = table
                .connections
                .iter()
                .filter_map(|(id, occupant)| occupant.waiting_since.map(|since| (since, *id)))
                .min()?;
            if let Some(occupant) = table.connections.remove(&longest_waiting.1) {
                // The connection may have ended meanwhile: then nobody listens, which is fine.
                let _ = occupant.reclaim.send(());
            }
        }
        let id = table.next_id;
        table.next_id += 1;
        let (reclaim, reclaimed) = oneshot::channel();
        table.connections.insert(
            id,
            Occupant {
                waiting_since: Some(Instant::now()),
                reclaim,
            },
        );
        Some((
            Slot {
                id,
                slots: self.clone(),
            },
            reclaimed,
        ))
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent whatever panicked while holding it (each change is one
        // map operation).
        self.table
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn set_waiting_since(&self, id: u64, since: Option<Instant>) -> bool {
        match self.lock().connections.get_mut(&id) {
            Some(occupant) => {
                occupant.waiting_since = since;
                true
            }
            None => false,
        }
    }
}

impl Slot {
    /// The cap this slot counts against.
    pub fn max_connections(&self) -> usize {
        self.slots.max
    }

    /// A request head has arrived: the connection serves it until the returned guard is
    /// dropped. `None` when the slot has just been reclaimed.
    pub fn serve_request(&self) -> Option<Serving> {
        self.slots
            .set_waiting_since(self.id, None)
            .then(|| Serving {
                id: self.id,
                slots: self.slots.clone(),
                then_waits: true,
            })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.lock().connections.remove(&self.id);
    }
}

impl Serving {
    /// The connection serves until it closes (it was upgraded: it is no HTTP connection any more).
    pub fn until_closed(mut self) {
        self.then_waits = false;
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if self.then_waits {
            self.slots.set_waiting_since(self.id, Some(Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_newcomer_takes_the_slot_of_the_longest_waiting_connection() {
        let slots = ConnectionSlots::new(2);
        let (first, mut first_reclaimed) = slots.admit().unwrap();
        let (second, mut second_reclaimed) = slots.admit().unwrap();
        let (_third, _) = slots.admit().expect("a waiting connection gives way");
        assert!(first_reclaimed.try_recv().is_ok());
        assert!(second_reclaimed.try_recv().is_err());
        assert!(
            first.serve_request().is_none(),
            "a reclaimed slot serves nothing"
        );
        drop(first);
        assert_eq!(slots.lock().connections.len(), 2);
        drop(second);
        assert_eq!(slots.lock().connections.len(), 1);
    }

    #[test]
    fn serving_connections_keep_their_slot_and_newcomers_are_refused() {
        let slots = ConnectionSlots::new(2);
        let (first, mut first_reclaimed) = slots.admit().unwrap();
        let (second, _) = slots.admit().unwrap();
        let serving_first = first.serve_request().unwrap();
        let serving_second = second.serve_request().unwrap();
        assert!(slots.admit().is_none());
        // Its response sent, the first waits for its next request and may be reclaimed.
        drop(serving_first);
        let (_third, _) = slots.admit().expect("the first connection gives way");
        assert!(first_reclaimed.try_recv().is_ok());
        drop(serving_second);
    }

    #[test]
    fn the_longest_waiting_connection_is_reclaimed_first() {
        let slots = ConnectionSlots::new(3);
        let admitted: Vec<_> = (0..3).map(|_| slots.admit().unwrap()).collect();
        // The first connection served a request and waits again since now: the second has
        // waited longest.
        drop(admitted[0].0.serve_request().unwrap());
        let mut admitted = admitted;
        let _newcomer = slots.admit().unwrap();
        assert!(admitted[1].1.try_recv().is_ok());
        assert!(admitted[0].1.try_recv().is_err());
        assert!(admitted[2].1.try_recv().is_err());
    }
}
