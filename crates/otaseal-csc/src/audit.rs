//! Hash-chained audit records.
//!
//! `hash = SHA-256(prev || JSON[seq, time, event, client, credential, serial,
//! hashAlgo, hashes, result])` in lower-case hex; the first record's `prev`
//! is [`GENESIS`]. Editing a field, deleting or reordering a record breaks
//! the chain at that record ([`verify_chain`]). Removing records at the end
//! leaves a shorter valid chain: compare the head (sequence number and hash,
//! printed by `otaseal csc audit verify`) with one kept elsewhere.

use sha2::{Digest, Sha256};

use crate::keystore::hex;
use crate::store::{AuditRow, Store, StoreError};

/// `prev` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What to record (the chain fields are filled in by [`append`]).
#[derive(Clone, Debug, Default)]
pub struct Event<'a> {
    /// Event name.
    pub event: &'a str,
    /// Client id.
    pub client: &'a str,
    /// Credential id.
    pub credential: &'a str,
    /// Certificate serial (hex).
    pub serial: &'a str,
    /// Hash algorithm OID.
    pub hash_algo: &'a str,
    /// Base64 hashes.
    pub hashes: &'a [String],
    /// `ok` or an error code.
    pub result: &'a str,
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.into() }
}

/// The hash of a record given its fields and `prev`.
pub fn record_hash(r: &AuditRow) -> String {
    let body = serde_json::json!([
        r.seq,
        r.time,
        r.event,
        r.client,
        r.credential,
        r.serial,
        r.hash_algo,
        r.hashes,
        r.result
    ]);
    let mut h = Sha256::new();
    h.update(r.prev.as_bytes());
    h.update(body.to_string().as_bytes());
    hex(&h.finalize())
}

/// Appends `e` at `time` and commits it before returning.
pub fn append(store: &Store, time: u64, e: &Event<'_>) -> Result<AuditRow, StoreError> {
    store.append_audit(|seq, prev| {
        let mut r = AuditRow {
            seq,
            time,
            event: dash(e.event),
            client: dash(e.client),
            credential: dash(e.credential),
            serial: dash(e.serial),
            hash_algo: dash(e.hash_algo),
            hashes: e.hashes.join(","),
            result: dash(e.result),
            prev: prev.to_string(),
            hash: String::new(),
        };
        r.hash = record_hash(&r);
        r
    })
}

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// A sequence number is missing or out of order (deleted record).
    Gap {
        /// Expected sequence number.
        expected: i64,
        /// Found.
        found: i64,
    },
    /// `prev` does not match the previous record's hash.
    Link(i64),
    /// The record's hash does not match its fields (edited record).
    Hash(i64),
}

impl std::fmt::Display for ChainBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainBreak::Gap { expected, found } => write!(
                f,
                "record {expected} is missing (next record is {found}): records were deleted"
            ),
            ChainBreak::Link(s) => write!(
                f,
                "record {s} does not follow the previous record (deleted or reordered records)"
            ),
            ChainBreak::Hash(s) => write!(f, "record {s} was edited (its hash does not match)"),
        }
    }
}

/// Checks a whole chain; returns `(records, head hash)`.
pub fn verify_chain(records: &[AuditRow]) -> Result<(usize, String), ChainBreak> {
    let mut prev = GENESIS.to_string();
    for (n, r) in records.iter().enumerate() {
        let expected = i64::try_from(n).unwrap_or(i64::MAX).saturating_add(1);
        if r.seq != expected {
            return Err(ChainBreak::Gap {
                expected,
                found: r.seq,
            });
        }
        if r.prev != prev {
            return Err(ChainBreak::Link(r.seq));
        }
        if record_hash(r) != r.hash {
            return Err(ChainBreak::Hash(r.seq));
        }
        prev = r.hash.clone();
    }
    Ok((records.len(), prev))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> Vec<AuditRow> {
        let s = Store::open_in_memory().unwrap();
        for n in 0..4 {
            let h = vec![format!("h{n}")];
            append(
                &s,
                1000 + n,
                &Event {
                    event: "signHash",
                    client: "c",
                    credential: "k",
                    hashes: &h,
                    result: "ok",
                    ..Event::default()
                },
            )
            .unwrap();
        }
        s.audit_records().unwrap()
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify_chain(&chain()).unwrap().0, 4);
    }

    #[test]
    fn edits_and_deletions_are_found() {
        let mut c = chain();
        c[1].result = "failed".into();
        assert_eq!(verify_chain(&c), Err(ChainBreak::Hash(2)));
        let mut c = chain();
        c.remove(2);
        assert!(matches!(verify_chain(&c), Err(ChainBreak::Gap { .. })));
        // Renumbered after a deletion: the link breaks.
        let mut c = chain();
        c.remove(1);
        for (n, r) in c.iter_mut().enumerate() {
            r.seq = n as i64 + 1;
        }
        assert!(verify_chain(&c).is_err());
    }
}
