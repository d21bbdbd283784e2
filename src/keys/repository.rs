//! The one owner of the keys' KV schema: every KV key name of API keys and PATs is built and
//! parsed here, and every read and write of them (hot path, admin API, the authority's tables)
//! goes through [`KeyRepository`] or the name functions below.
//!
//! KV layout (the token itself is never stored):
//! - `key:<hex sha256(token)>` → [`KeyRecord`] (the contract's record), read on the hot path;
//! - `id:<id>` → [`IdRecord`] `{"hash","kind","subject"}`, so the admin API finds a key by id;
//! - `sub:<hex(subject)>:<issuer tag>:<id>` → [`IndexSummary`] `{"kind","created_at",
//!   "expires_at","revoked_at"?}`, so keys are listed by subject, or by principal (issuer,
//!   subject), with a KV prefix list. The subject is hex-encoded so no character of it can break
//!   the key's structure; the issuer tag is `0` for no issuer (API keys) or `i` + 16 hex digits
//!   of SHA-256(issuer), so every index key fits KV's 512-byte limit whatever the issuer (see
//!   [`MAX_SUBJECT_BYTES`]). The summary is written as the entry's listed value (KV metadata,
//!   [`KeyStore::put_listed`]), so the PAT cap counts a principal's keys from its listing alone:
//!   one KV list per 1,000 keys instead of two reads per key, which past about 500 PATs in a
//!   principal's history would have run into the Workers limit of 1,000 KV operations per
//!   request. Entries written before summaries read `""`, and entries written before principals
//!   were issuer-qualified read `sub:<hex(subject)>:<id>`; listings read all three, and a key
//!   whose entry cannot tell is read.
//! - `used:<id>` → Unix seconds of the last use, written after responses at most once a minute
//!   per isolate, in its own key so it can never race with (and undo) a revocation.
//!
//! Never touches: what a record means or whether it authenticates ([`super::record`]), the
//! per-isolate cache, a clock (`now` is an argument), a token (only its digest).

use super::digest::TokenDigest;
use super::format::KeyKind;
use super::record::{IdRecord, KeyRecord, KeyStatus};
use crate::ports::{Authority, KeyStore, StoreError};
use crate::time::UnixTime;

/// Longest subject a key or PAT can be made for, in UTF-8 bytes: the subject index key
/// (`sub:` + 2 × subject + `:i` + 16 + `:` + id) must stay within KV's 512-byte key limit.
pub const MAX_SUBJECT_BYTES: usize = 200;

/// The prefix of every id record: listing it walks every key.
const ID_PREFIX: &str = "id:";
/// The prefix of every key record (by token digest).
const RECORD_PREFIX: &str = "key:";
/// The prefix of every subject index entry.
const SUBJECT_PREFIX: &str = "sub:";
/// The prefix of every last-use record.
const USED_PREFIX: &str = "used:";

/// A key record's name (`key:…`): what the authority serves to the Worker's reads.
#[must_use]
pub fn is_record_key(name: &str) -> bool {
    name.starts_with(RECORD_PREFIX)
}

/// What the authority copies from KV when it adopts keys made before the state tier: records,
/// id records and subject index entries. Never `used:` (last use comes from the counters).
#[must_use]
pub fn is_adopted(name: &str) -> bool {
    [RECORD_PREFIX, ID_PREFIX, SUBJECT_PREFIX]
        .iter()
        .any(|p| name.starts_with(p))
}

/// `key:<lowercase hex>`: where the record of the token with `digest` lives.
#[must_use]
pub fn record_key(digest: &TokenDigest) -> String {
    format!("{RECORD_PREFIX}{}", digest.to_hex())
}

/// `id:<id>`: where a key's [`IdRecord`] lives.
#[must_use]
pub fn id_key(id: &str) -> String {
    format!("{ID_PREFIX}{id}")
}

/// `used:<id>`: when the key was last used.
#[must_use]
pub fn used_key(id: &str) -> String {
    format!("{USED_PREFIX}{id}")
}

/// The prefix of every index entry of `subject`, whatever the issuer (and of the entries
/// written before principals were issuer-qualified).
#[must_use]
pub fn subject_prefix(subject: &str) -> String {
    format!("{SUBJECT_PREFIX}{}:", hex::encode(subject.as_bytes()))
}

/// The issuer's part of an index key: `0` for none, else `i` + 16 hex of SHA-256(issuer). (The
/// counter objects of `crate::limits` name principals with the same tag.)
#[must_use]
pub fn issuer_tag(issuer: Option<&str>) -> String {
    use sha2::{Digest, Sha256};
    match issuer {
        None => "0".to_string(),
        Some(iss) => {
            let digest = Sha256::digest(iss.as_bytes());
            let mut tag = String::from("i");
            tag.push_str(&hex::encode(digest.get(..8).unwrap_or(&[])));
            tag
        }
    }
}

/// The prefix of the index entries of the principal (issuer, subject).
#[must_use]
pub fn principal_prefix(issuer: Option<&str>, subject: &str) -> String {
    format!("{}{}:", subject_prefix(subject), issuer_tag(issuer))
}

/// The index entry of key `id` of the principal (issuer, subject).
#[must_use]
pub fn index_entry(issuer: Option<&str>, subject: &str, id: &str) -> String {
    format!("{}{id}", principal_prefix(issuer, subject))
}

/// The id in an index entry name after `subject_prefix`: `<tag>:<id>`, or `<id>` for an entry
/// written before principals were issuer-qualified.
#[must_use]
fn index_entry_id(rest: &str) -> &str {
    split_index_entry(rest).1
}

/// An index entry name after `subject_prefix`, as (issuer tag, id): no tag for an entry written
/// before principals were issuer-qualified.
fn split_index_entry(rest: &str) -> (Option<&str>, &str) {
    match rest.split_once(':') {
        Some((tag, id)) => (Some(tag), id),
        None => (None, rest),
    }
}

/// What a subject index entry records about its key: enough to count a principal's keys (the
/// PAT cap) without reading them. Rewritten when the key is revoked or its expiry moves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IndexSummary {
    pub kind: KeyKind,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

impl IndexSummary {
    #[must_use]
    pub fn of(record: &KeyRecord) -> Self {
        IndexSummary {
            kind: record.kind,
            created_at: record.created_at,
            expires_at: record.expires_at,
            revoked_at: record.revoked_at,
        }
    }

    /// The key's status at `now`, as [`KeyRecord::status`] says it.
    #[must_use]
    pub fn status(&self, now: UnixTime) -> KeyStatus {
        KeyStatus::at(self.revoked_at, self.expires_at, now)
    }

    /// The JSON written as the entry's value and listed value (about 90 bytes, printable ASCII:
    /// well within [`crate::ports::MAX_LISTED_BYTES`]).
    fn to_json(&self) -> Result<String, StoreError> {
        serde_json::to_string(self).map_err(|_| StoreError::Unavailable)
    }
}

/// One entry of a subject's index, as listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexedKey {
    pub id: String,
    /// The issuer tag of the entry's name; `None` for an entry written before principals were
    /// issuer-qualified.
    tag: Option<String>,
    /// `None` for an entry written before summaries (its value is `""`), or one whose listed
    /// value does not parse.
    summary: Option<IndexSummary>,
}

/// What an index entry tells about its key, for one PAT owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Indexed<'a> {
    /// A PAT of the principal, as its summary says.
    Pat(&'a IndexSummary),
    /// Not a PAT of the principal (an API key, or another issuer's).
    NotOwned,
    /// The entry cannot tell (no summary, no issuer tag, or a PAT stored without an issuer,
    /// which may belong to the only configured issuer): the caller reads the key.
    Unknown,
}

impl IndexedKey {
    /// Whether this entry is a PAT of (`issuer`, the listed subject), as far as the entry tells.
    /// Another issuer's tag is a different SHA-256 prefix of 64 bits: the counts this serves are
    /// limits, not permissions, so a collision between two configured issuers would only
    /// miscount.
    #[must_use]
    pub fn for_pat_owner(&self, issuer: &str) -> Indexed<'_> {
        let (Some(tag), Some(summary)) = (self.tag.as_deref(), self.summary.as_ref()) else {
            return Indexed::Unknown;
        };
        match summary.kind {
            KeyKind::ApiKey => Indexed::NotOwned,
            KeyKind::Pat if tag == issuer_tag(None) => Indexed::Unknown,
            KeyKind::Pat if tag == issuer_tag(Some(issuer)) => Indexed::Pat(summary),
            KeyKind::Pat => Indexed::NotOwned,
        }
    }
}

impl IndexedKey {
    /// Whether the entry shows, without reading the key, that revoking every key of the
    /// principal (`issuer`, the listed subject) made at or before `before` leaves this one as it
    /// is: already revoked (a summary says so only after the record does), made after `before`,
    /// or another principal's (an API key when `issuer` is given, another issuer's PAT). What it
    /// cannot tell is read.
    #[must_use]
    pub fn spared_by_principal_revocation(&self, issuer: Option<&str>, before: u64) -> bool {
        let Some(summary) = self.summary.as_ref() else {
            return false;
        };
        if summary.revoked_at.is_some() || summary.created_at > before {
            return true;
        }
        let Some(tag) = self.tag.as_deref() else {
            return false;
        };
        match summary.kind {
            KeyKind::ApiKey => issuer.is_some(),
            // A PAT stored without an issuer may be the only configured issuer's.
            KeyKind::Pat if tag == issuer_tag(None) => false,
            KeyKind::Pat => issuer.is_none_or(|iss| tag != issuer_tag(Some(iss))),
        }
    }
}

/// One page of a subject's index entries, in the store's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexPage {
    pub entries: Vec<IndexedKey>,
    /// Present when more follow.
    pub cursor: Option<String>,
}

/// Which keys a listing walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listing<'a> {
    /// Every key, by its id record.
    All,
    /// The keys of one subject (every issuer), by the subject's index entries.
    Subject(&'a str),
}

impl Listing<'_> {
    /// The KV prefix the listing lists.
    #[must_use]
    pub fn prefix(&self) -> String {
        match self {
            Listing::All => ID_PREFIX.to_string(),
            Listing::Subject(subject) => subject_prefix(subject),
        }
    }

    /// The key id a listed `name` stands for (`None` for a name outside the listing).
    #[must_use]
    pub fn id_of<'n>(&self, name: &'n str) -> Option<&'n str> {
        self.id_after(&self.prefix(), name)
    }

    /// [`Listing::id_of`] with the listing's `prefix` already built.
    fn id_after<'n>(&self, prefix: &str, name: &'n str) -> Option<&'n str> {
        let rest = name.strip_prefix(prefix)?;
        Some(match self {
            Listing::All => rest,
            Listing::Subject(_) => index_entry_id(rest),
        })
    }
}

/// One page of key ids, in the store's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdPage {
    pub ids: Vec<String>,
    /// Present when more follow.
    pub cursor: Option<String>,
}

/// The record of the token with `digest` as the state tier's authority holds it.
pub async fn authority_record<A: Authority>(
    authority: &A,
    digest: &TokenDigest,
) -> Result<Option<crate::ports::AuthorityRecord>, StoreError> {
    authority.record(&record_key(digest)).await
}

/// The keys' records in a [`KeyStore`] (KV, or the authority's key table).
#[derive(Debug)]
pub struct KeyRepository<'s, S> {
    store: &'s S,
}

impl<S> Clone for KeyRepository<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for KeyRepository<'_, S> {}

impl<'s, S: KeyStore> KeyRepository<'s, S> {
    #[must_use]
    pub fn new(store: &'s S) -> Self {
        KeyRepository { store }
    }

    /// The stored text of the record at `digest`, read the hot path's way (the store may answer
    /// from its edge cache). Left unparsed: a malformed record is the caller's refusal.
    pub async fn record_text_cached(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<String>, StoreError> {
        self.store.get_cached(&record_key(digest)).await
    }

    /// The record at `digest`, as fresh as the store allows; a malformed one reads as none.
    pub async fn record(&self, digest: &TokenDigest) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self
            .store
            .get(&record_key(digest))
            .await?
            .and_then(|text| KeyRecord::parse(&text).ok()))
    }

    /// Replace the record at `digest`.
    pub async fn put_record(
        &self,
        digest: &TokenDigest,
        record: &KeyRecord,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(record).map_err(|_| StoreError::Unavailable)?;
        self.store.put(&record_key(digest), &text, None).await
    }

    /// True when something is stored at `id`'s id record, well-formed or not.
    pub async fn id_taken(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.store.get(&id_key(id)).await?.is_some())
    }

    /// The id record of `id`; a malformed one reads as none.
    pub async fn id_record(&self, id: &str) -> Result<Option<IdRecord>, StoreError> {
        Ok(self
            .store
            .get(&id_key(id))
            .await?
            .and_then(|text| serde_json::from_str::<IdRecord>(&text).ok()))
    }

    /// Write a new key's three records: id and subject index first, so a key that works is
    /// always one the admin API can find and revoke.
    pub async fn write_key(
        &self,
        digest: &TokenDigest,
        record: &KeyRecord,
    ) -> Result<(), StoreError> {
        let index = IdRecord {
            hash: digest.to_hex(),
            kind: record.kind,
            subject: record.subject.clone(),
            issuer: record.issuer.clone(),
        };
        let index_json = serde_json::to_string(&index).map_err(|_| StoreError::Unavailable)?;
        let record_json = serde_json::to_string(record).map_err(|_| StoreError::Unavailable)?;
        self.store
            .put(&id_key(&record.id), &index_json, None)
            .await?;
        let entry = index_entry(record.issuer.as_deref(), &record.subject, &record.id);
        let summary = IndexSummary::of(record).to_json()?;
        self.store.put_listed(&entry, &summary).await?;
        self.store
            .put(&record_key(digest), &record_json, None)
            .await
    }

    /// Replace the record at `digest` after a change its index summary records (revoked, expiry
    /// moved), then the summary. Record first: if the second write fails, the summary still
    /// says active, and the cap it serves counts one key too many rather than one too few. Only
    /// an entry that exists is rewritten (one read): a key listed under the form from before
    /// principals were issuer-qualified gets no second entry, and is read when counted.
    pub async fn put_record_and_index(
        &self,
        digest: &TokenDigest,
        record: &KeyRecord,
    ) -> Result<(), StoreError> {
        self.put_record(digest, record).await?;
        self.refresh_index(record).await
    }

    /// Rewrite `record`'s index summary from it, if its index entry (the issuer-qualified form)
    /// exists.
    pub async fn refresh_index(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let entry = index_entry(record.issuer.as_deref(), &record.subject, &record.id);
        if self.store.get(&entry).await?.is_some() {
            let summary = IndexSummary::of(record).to_json()?;
            self.store.put_listed(&entry, &summary).await?;
        }
        Ok(())
    }

    /// When key `id` was last used, if recorded (a failed or malformed read is none).
    pub async fn last_used(&self, id: &str) -> Option<u64> {
        self.store
            .get(&used_key(id))
            .await
            .ok()
            .flatten()?
            .parse()
            .ok()
    }

    /// Record a use of key `id` at `now` (best effort: a failed write is not retried).
    pub async fn record_use(&self, id: &str, now: UnixTime) {
        let _ = self
            .store
            .put(&used_key(id), &now.0.to_string(), None)
            .await;
    }

    /// One page of the ids `listing` walks, at most `limit` names of the store's listing.
    pub async fn list(
        &self,
        listing: Listing<'_>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<IdPage, StoreError> {
        let prefix = listing.prefix();
        let page = self.store.list(&prefix, cursor, limit).await?;
        let ids = page
            .keys
            .iter()
            .filter_map(|listed| listing.id_after(&prefix, &listed.name))
            .map(str::to_string)
            .collect();
        Ok(IdPage {
            ids,
            cursor: page.cursor,
        })
    }

    /// One page of `subject`'s index entries (every issuer, both name forms) with what each
    /// records, at most `limit` names: no read per entry.
    pub async fn list_index(
        &self,
        subject: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<IndexPage, StoreError> {
        let prefix = subject_prefix(subject);
        let page = self.store.list(&prefix, cursor, limit).await?;
        let entries = page
            .keys
            .iter()
            .filter_map(|listed| {
                let (tag, id) = split_index_entry(listed.name.strip_prefix(&prefix)?);
                Some(IndexedKey {
                    id: id.to_string(),
                    tag: tag.map(str::to_string),
                    summary: listed
                        .listed
                        .as_deref()
                        .and_then(|text| serde_json::from_str(text).ok()),
                })
            })
            .collect();
        Ok(IndexPage {
            entries,
            cursor: page.cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_key_is_lowercase_hex_sha256() {
        assert_eq!(
            record_key(&TokenDigest::of("abc")),
            "key:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(id_key("key_1"), "id:key_1");
        assert!(is_record_key(&record_key(&TokenDigest::of("abc"))));
        assert!(!is_record_key("id:key_1"));
        for adopted in ["key:ab", "id:key_1", "sub:6162:0:key_1"] {
            assert!(is_adopted(adopted), "{adopted}");
        }
        for not in ["used:key_1", "limits/x", "keyx", "auditx"] {
            assert!(!is_adopted(not), "{not}");
        }
        assert_eq!(used_key("key_1"), "used:key_1");
    }

    #[test]
    fn principal_index_keys_separate_issuers_and_fit_kv() {
        let a = principal_prefix(Some("https://a"), "alice");
        let b = principal_prefix(Some("https://b"), "alice");
        assert_ne!(a, b);
        assert!(a.starts_with(&subject_prefix("alice")));
        assert_ne!(principal_prefix(None, "alice"), a);
        let long_issuer = "https://".to_string() + &"x".repeat(400);
        let subject = "s".repeat(MAX_SUBJECT_BYTES);
        let key = index_entry(
            Some(&long_issuer),
            &subject,
            &format!("key_{}", "A".repeat(16)),
        );
        assert!(key.len() <= 512, "{}", key.len());
        assert_eq!(index_entry_id("i0011223344556677:key_1"), "key_1");
        assert_eq!(index_entry_id("key_1"), "key_1");
    }

    #[test]
    fn subject_prefix_cannot_be_confused() {
        assert_ne!(subject_prefix("a:b"), subject_prefix("a"));
        assert!(!subject_prefix("a:").starts_with(&subject_prefix("a")));
        assert!(!subject_prefix("ab").starts_with(&subject_prefix("a")));
    }

    #[test]
    fn an_index_entry_tells_its_pat_owner_only_what_it_can() {
        let summary = |kind| IndexSummary {
            kind,
            created_at: 1,
            expires_at: Some(2),
            revoked_at: None,
        };
        let entry = |tag: Option<String>, s: Option<IndexSummary>| IndexedKey {
            id: "k".into(),
            tag,
            summary: s,
        };
        let a = Some(issuer_tag(Some("https://a")));
        let pat = summary(KeyKind::Pat);
        assert_eq!(
            entry(a.clone(), Some(pat.clone())).for_pat_owner("https://a"),
            Indexed::Pat(&pat)
        );
        for (tag, s, want) in [
            // another issuer's PAT, and an API key of the subject
            (
                a.clone(),
                Some(pat.clone()),
                ("https://b", Indexed::NotOwned),
            ),
            (
                Some(issuer_tag(None)),
                Some(summary(KeyKind::ApiKey)),
                ("https://a", Indexed::NotOwned),
            ),
            // a PAT stored without an issuer may be the only issuer's: read it
            (
                Some(issuer_tag(None)),
                Some(pat.clone()),
                ("https://a", Indexed::Unknown),
            ),
            // no summary, or the name form without an issuer tag
            (a.clone(), None, ("https://a", Indexed::Unknown)),
            (None, Some(pat.clone()), ("https://a", Indexed::Unknown)),
        ] {
            assert_eq!(entry(tag, s).for_pat_owner(want.0), want.1);
        }
    }

    #[test]
    fn a_principal_revocation_reads_only_what_the_entry_cannot_rule_out() {
        let entry = |tag: Option<&str>, kind, created_at, revoked_at| IndexedKey {
            id: "k".into(),
            tag: tag.map(str::to_string),
            summary: Some(IndexSummary {
                kind,
                created_at,
                expires_at: None,
                revoked_at,
            }),
        };
        let a = issuer_tag(Some("https://a"));
        let none = issuer_tag(None);
        let (a, none) = (Some(a.as_str()), Some(none.as_str()));
        let pat = KeyKind::Pat;
        let api = KeyKind::ApiKey;
        for (e, issuer, spared) in [
            (entry(a, pat, 5, None), Some("https://a"), false),
            (entry(a, pat, 5, Some(6)), Some("https://a"), true),
            (entry(a, pat, 11, None), Some("https://a"), true),
            (entry(a, pat, 5, None), Some("https://b"), true),
            (entry(a, pat, 5, None), None, true),
            (entry(none, api, 5, None), None, false),
            (entry(none, api, 5, None), Some("https://a"), true),
            (entry(none, pat, 5, None), Some("https://a"), false),
            (entry(None, pat, 5, None), Some("https://a"), false),
        ] {
            assert_eq!(
                e.spared_by_principal_revocation(issuer, 10),
                spared,
                "{e:?} {issuer:?}"
            );
        }
        let unsummarised = IndexedKey {
            id: "k".into(),
            tag: a.map(str::to_string),
            summary: None,
        };
        assert!(!unsummarised.spared_by_principal_revocation(Some("https://b"), 10));
    }

    #[test]
    fn the_longest_summary_fits_kv_metadata() {
        let longest = IndexSummary {
            kind: KeyKind::ApiKey,
            created_at: u64::MAX,
            expires_at: Some(u64::MAX),
            revoked_at: Some(u64::MAX),
        };
        let text = longest.to_json().ok();
        let text = text.as_deref().unwrap_or("{unserialisable}");
        assert!(text.starts_with("{\"kind\":"), "{text}");
        // KV counts the metadata as JSON: the string, its quotes and its escapes.
        let as_metadata = serde_json::to_string(text).unwrap_or_default();
        assert!(
            as_metadata.len() <= crate::ports::MAX_LISTED_BYTES,
            "{as_metadata}"
        );
        assert!(text.bytes().all(|b| b.is_ascii_graphic()), "{text}");
    }

    #[test]
    fn listings_read_ids_from_both_index_forms() {
        let entry = index_entry(Some("https://a"), "alice", "key_1");
        let subject = Listing::Subject("alice");
        assert_eq!(subject.id_of(&entry), Some("key_1"));
        let legacy = format!("{}key_2", subject_prefix("alice"));
        assert_eq!(subject.id_of(&legacy), Some("key_2"));
        assert_eq!(subject.id_of(&index_entry(None, "bob", "key_3")), None);
        assert_eq!(Listing::All.id_of(&id_key("key_4")), Some("key_4"));
        assert_eq!(Listing::All.id_of("used:key_4"), None);
    }
}
