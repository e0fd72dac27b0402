//! Sessions in links: the session file, compacted, deflated and written in URL-safe base64
//! after `#session=` (or `#task=`, which opens the focused labelling view) in the page's address. A fragment never reaches a server, so a link shares
//! labels without hosting anything. Reading a link treats it as hostile: its length and the
//! size it inflates to are bounded before anything is parsed, and the session is validated by
//! [`Session::parse`].

use crate::session::{Session, SessionError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use std::io::{Read, Write};
use thiserror::Error;

/// What a link opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkKind {
    /// The whole app with the session (`#session=…`).
    Session,
    /// A labelling task in the focused labelling view (`#task=…`).
    Task,
}

impl LinkKind {
    /// The fragment key: `…/#session=<payload>` or `…/#task=<payload>`.
    pub fn key(self) -> &'static str {
        match self {
            LinkKind::Session => "session",
            LinkKind::Task => "task",
        }
    }
}
/// The link encoding this build writes and the newest it reads (the payload's `1.` prefix).
pub const LINK_VERSION: u32 = 1;
/// Payloads longer than this are refused before decoding (browsers keep 2 MB addresses).
pub const MAX_PAYLOAD_CHARS: usize = 512 * 1024;
/// A payload may inflate to at most this many bytes (no session of 10 classes needs 1 %).
pub const MAX_INFLATED_BYTES: usize = 1024 * 1024;

/// Why a link cannot be opened.
#[derive(Debug, Error, PartialEq)]
pub enum LinkError {
    /// The payload is longer than [`MAX_PAYLOAD_CHARS`].
    #[error("the link is longer than 512 kB; it is not a Chipscope session link")]
    TooLong,
    /// The payload's version prefix is newer than [`LINK_VERSION`]; that version.
    #[error(
        "the link was made by a newer Chipscope (link version {0}; this one reads {LINK_VERSION}) — update Chipscope"
    )]
    NewerVersion(u32),
    /// The version prefix, base64 or deflate stream is broken, or the unpacked bytes are not
    /// text; what went wrong (often a link cut short when copied).
    #[error("the link is damaged ({0}); copy it again in full")]
    Damaged(String),
    /// The payload inflates to more than [`MAX_INFLATED_BYTES`].
    #[error("the link unpacks to more than 1 MB; it is not a Chipscope session link")]
    InflatesTooFar,
    /// The unpacked session file was refused.
    #[error("the link's session cannot be used: {0}")]
    Session(#[from] SessionError),
}

/// The link payload for `session`: `1.` and the deflated compact JSON in base64url.
pub fn encode(session: &Session) -> String {
    let json = serde_json::to_vec(session).expect("sessions serialise");
    let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
    deflater.write_all(&json).expect("writing to memory");
    let packed = deflater.finish().expect("writing to memory");
    format!("{LINK_VERSION}.{}", URL_SAFE_NO_PAD.encode(packed))
}

/// The address fragment (without `#`) that opens `session` as `kind`.
pub fn fragment(session: &Session, kind: LinkKind) -> String {
    format!("{}={}", kind.key(), encode(session))
}

/// The session in an address fragment or a whole link (anything up to the first `#` is
/// ignored), `None` when it holds no session.
pub fn from_fragment(link: &str) -> Option<(LinkKind, Result<Session, LinkError>)> {
    let fragment = link.split_once('#').map_or(link, |(_, fragment)| fragment);
    fragment.trim().split('&').find_map(|part| {
        let (key, payload) = part.split_once('=')?;
        let kind = [LinkKind::Session, LinkKind::Task]
            .into_iter()
            .find(|kind| kind.key() == key)?;
        Some((kind, decode(payload)))
    })
}

/// Reads a link payload written by [`encode`].
pub fn decode(payload: &str) -> Result<Session, LinkError> {
    if payload.len() > MAX_PAYLOAD_CHARS {
        return Err(LinkError::TooLong);
    }
    let (version, data) = payload
        .split_once('.')
        .ok_or_else(|| LinkError::Damaged("no version".into()))?;
    match version.parse::<u32>() {
        Ok(LINK_VERSION) => {}
        Ok(newer) if newer > LINK_VERSION => return Err(LinkError::NewerVersion(newer)),
        _ => return Err(LinkError::Damaged(format!("unknown version {version:?}"))),
    }
    let packed = URL_SAFE_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|error| LinkError::Damaged(error.to_string()))?;
    let mut json = Vec::new();
    DeflateDecoder::new(packed.as_slice())
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut json)
        .map_err(|error| LinkError::Damaged(error.to_string()))?;
    if json.len() > MAX_INFLATED_BYTES {
        return Err(LinkError::InflatesTooFar);
    }
    let text = String::from_utf8(json).map_err(|_| LinkError::Damaged("not text".into()))?;
    Ok(Session::parse(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::{ClassLabel, palette_colour};
    use crate::session::sample;

    /// Ten classes of ten supports each, on a 32 × 32 grid.
    fn large_session() -> Session {
        let mut session = sample();
        session.classes = (0..10)
            .map(|k| ClassLabel {
                name: format!("phase {k} (grain interior)"),
                colour: palette_colour(k),
                supports: (0..10)
                    .map(|i| [(7 * i + 3 * k) % 32, (5 * k + 11 * i) % 32])
                    .collect(),
                elsewhere: vec![],
            })
            .collect();
        session
    }

    #[test]
    fn a_link_round_trips_and_stays_short() {
        let session = large_session();
        let link = fragment(&session, LinkKind::Session);
        assert!(link.starts_with("session=1."));
        assert!(
            link.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"=._-".contains(&b))
        );
        let address = format!("https://example.org/chipscope/?x=1#{link}");
        assert_eq!(
            from_fragment(&address),
            Some((LinkKind::Session, Ok(session.clone())))
        );
        let task = fragment(&session, LinkKind::Task);
        assert_eq!(from_fragment(&task), Some((LinkKind::Task, Ok(session))));
        // 10 classes × 10 supports: about 1 kB of address, far below any browser's limit.
        assert!(link.len() < 1500, "{} characters", link.len());
        assert_eq!(from_fragment("https://example.org/#example"), None);
    }

    #[test]
    fn damaged_links_get_a_reason() {
        let payload = encode(&sample());
        let bomb = {
            let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
            deflater.write_all(&vec![b' '; 8 << 20]).unwrap();
            format!("1.{}", URL_SAFE_NO_PAD.encode(deflater.finish().unwrap()))
        };
        let not_a_session = {
            let mut deflater = DeflateEncoder::new(Vec::new(), Compression::best());
            deflater.write_all(b"{\"format\": \"other\"}").unwrap();
            format!("1.{}", URL_SAFE_NO_PAD.encode(deflater.finish().unwrap()))
        };
        let cases = [
            (payload[..payload.len() / 2].to_string(), "damaged"),
            (payload.replacen('.', "", 1), "no version"),
            (payload.replacen("1.", "9.", 1), "newer Chipscope"),
            (payload.replacen("1.", "x.", 1), "unknown version"),
            (format!("{payload}!*"), "damaged"),
            (
                "1.".to_string() + &"A".repeat(MAX_PAYLOAD_CHARS),
                "longer than 512 kB",
            ),
            (bomb, "more than 1 MB"),
            (not_a_session, "not a Chipscope session file"),
        ];
        for (payload, reason) in cases {
            let error = decode(&payload).unwrap_err().to_string();
            assert!(error.contains(reason), "{reason:?} not in {error:?}");
        }
    }
}
