//! What an entry's name means inside the target: its components, and whether it is an overlay
//! whiteout. Pure logic; the syscalls are in `tree`.

/// Why a name cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnsafeName {
    /// A `..` component: refused rather than resolved, since no tool that packs a root
    /// filesystem writes one, and one that does means to climb out.
    DotDot,
    /// A NUL byte (possible in a PAX `path` record): the kernel would cut the name there.
    Nul,
}

impl UnsafeName {
    pub(super) fn reason(self) -> &'static str {
        match self {
            UnsafeName::DotDot => "a `..` component would leave the root",
            UnsafeName::Nul => "a NUL byte in the name",
        }
    }
}

/// The components of an entry name, relative to the target's root. A leading `/` is dropped
/// (absolute names are resolved inside the root, as GNU tar does by default), so are empty and
/// `.` components. An empty result names the root itself (`./`).
pub(super) fn components(name: &[u8]) -> Result<Vec<&[u8]>, UnsafeName> {
    if name.contains(&0) {
        return Err(UnsafeName::Nul);
    }
    let mut components = Vec::new();
    for component in name.split(|&b| b == b'/') {
        match component {
            b"" | b"." => {}
            b".." => return Err(UnsafeName::DotDot),
            _ => components.push(component),
        }
    }
    Ok(components)
}

/// An overlay whiteout, as layers of an OCI image write them.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Whiteout<'a> {
    /// `.wh..wh..opq`: the folder hides everything of the layers below it.
    Opaque,
    /// `.wh.NAME`: `NAME` of the layers below is deleted.
    Hide(&'a [u8]),
    /// Another `.wh..wh.*` name: aufs bookkeeping (`.wh..wh.plnk`…), nothing for overlayfs; so
    /// are `.wh.` and `.wh..`, which hide nothing.
    AufsMetadata,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const AUFS_METADATA_PREFIX: &[u8] = b".wh..wh.";

/// The whiteout a last component names, if any.
pub(super) fn whiteout(name: &[u8]) -> Result<Option<Whiteout<'_>>, UnsafeName> {
    if name == OPAQUE {
        return Ok(Some(Whiteout::Opaque));
    }
    if name.starts_with(AUFS_METADATA_PREFIX) {
        return Ok(Some(Whiteout::AufsMetadata));
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        None => Ok(None),
        Some(b"..") => Err(UnsafeName::DotDot),
        Some(b"" | b".") => Ok(Some(Whiteout::AufsMetadata)),
        Some(hidden) => Ok(Some(Whiteout::Hide(hidden))),
    }
}

/// The components joined with `/`, as the kernel resolves them.
pub(super) fn join(components: &[&[u8]]) -> Vec<u8> {
    components.join(&b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_relative_to_the_root_and_dot_dot_is_refused() {
        assert_eq!(components(b"./bin/sh").unwrap(), [&b"bin"[..], b"sh"]);
        assert_eq!(
            components(b"/etc//passwd").unwrap(),
            [&b"etc"[..], b"passwd"]
        );
        assert_eq!(components(b"usr/lib/").unwrap(), [&b"usr"[..], b"lib"]);
        assert!(components(b"./").unwrap().is_empty());
        assert!(components(b"/").unwrap().is_empty());
        assert_eq!(components(b"../etc/passwd"), Err(UnsafeName::DotDot));
        assert_eq!(components(b"a/../../b"), Err(UnsafeName::DotDot));
        assert_eq!(components(b"a/.."), Err(UnsafeName::DotDot));
        assert_eq!(components(b"a\0b"), Err(UnsafeName::Nul));
        // Names are bytes: not every name is UTF-8.
        assert_eq!(components(b"caf\xe9").unwrap(), [&b"caf\xe9"[..]]);
        assert_eq!(join(&[b"a", b"b", b"c"]), b"a/b/c");
    }

    #[test]
    fn whiteouts_are_recognised() {
        assert_eq!(whiteout(b".wh..wh..opq"), Ok(Some(Whiteout::Opaque)));
        assert_eq!(whiteout(b".wh.gone"), Ok(Some(Whiteout::Hide(b"gone"))));
        assert_eq!(
            whiteout(b".wh..hidden"),
            Ok(Some(Whiteout::Hide(b".hidden")))
        );
        assert_eq!(whiteout(b".wh..wh.plnk"), Ok(Some(Whiteout::AufsMetadata)));
        assert_eq!(whiteout(b".wh."), Ok(Some(Whiteout::AufsMetadata)));
        assert_eq!(whiteout(b".wh.."), Ok(Some(Whiteout::AufsMetadata)));
        assert_eq!(whiteout(b".wh..."), Err(UnsafeName::DotDot));
        assert_eq!(whiteout(b"file.wh.x"), Ok(None));
        assert_eq!(whiteout(b"passwd"), Ok(None));
    }
}
