//! Recognises an archive of a whole image (`docker save`, an OCI image layout) among the entries
//! of what was meant to be a root filesystem, from the top-level names alone, as they stream.
//! Each layout needs two of its marks, so a root filesystem that happens to hold a file named
//! `manifest.json` or `index.json` is still imported.

/// An archive that holds an image rather than a root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageArchive {
    /// `docker save` (before Docker 25): `manifest.json` and `<id>/layer.tar` files.
    DockerSave,
    /// An OCI image layout (`skopeo copy … oci-archive:`, `docker save` since Docker 25):
    /// `oci-layout`, `index.json`, `blobs/`.
    OciLayout,
}

impl ImageArchive {
    pub fn description(self) -> &'static str {
        match self {
            ImageArchive::DockerSave => "a `docker save` archive (manifest.json and layer tars)",
            ImageArchive::OciLayout => "an OCI image layout (oci-layout, index.json and blobs/)",
        }
    }
}

/// The marks seen so far.
#[derive(Debug, Default)]
pub(super) struct LayoutDetector {
    manifest_json: bool,
    index_json: bool,
    oci_layout: bool,
    blobs: bool,
    layer_tar: bool,
}

impl LayoutDetector {
    /// Notes one entry (its name's components, relative to the root) and says whether the
    /// archive is now known to be an image archive.
    pub(super) fn observe(&mut self, components: &[&[u8]], is_file: bool) -> Option<ImageArchive> {
        match components {
            [b"manifest.json"] if is_file => self.manifest_json = true,
            [b"index.json"] if is_file => self.index_json = true,
            [b"oci-layout"] if is_file => self.oci_layout = true,
            [b"blobs", b"sha256", ..] => self.blobs = true,
            [layer, b"layer.tar"] if is_file && is_hex_digest(layer) => self.layer_tar = true,
            _ => return None,
        }
        if self.oci_layout && (self.index_json || self.blobs) {
            Some(ImageArchive::OciLayout)
        } else if self.manifest_json && (self.layer_tar || self.blobs) {
            Some(ImageArchive::DockerSave)
        } else {
            None
        }
    }
}

/// The 64 hexadecimal digits of a sha256 (the folder names of `docker save`).
fn is_hex_digest(name: &[u8]) -> bool {
    name.len() == 64 && name.iter().all(u8::is_ascii_hexdigit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn detect(entries: &[(&[&[u8]], bool)]) -> Option<ImageArchive> {
        let mut detector = LayoutDetector::default();
        entries
            .iter()
            .find_map(|(components, is_file)| detector.observe(components, *is_file))
    }

    #[test]
    fn docker_save_archives_are_recognised_in_any_order() {
        let layer: &[&[u8]] = &[ID, b"layer.tar"];
        let manifest: &[&[u8]] = &[b"manifest.json"];
        assert_eq!(
            detect(&[(layer, true), (manifest, true)]),
            Some(ImageArchive::DockerSave)
        );
        assert_eq!(
            detect(&[(manifest, true), (layer, true)]),
            Some(ImageArchive::DockerSave)
        );
        let blob: &[&[u8]] = &[b"blobs", b"sha256", ID];
        assert_eq!(
            detect(&[(blob, true), (manifest, true)]),
            Some(ImageArchive::DockerSave)
        );
    }

    #[test]
    fn oci_layouts_are_recognised() {
        let blob: &[&[u8]] = &[b"blobs", b"sha256", ID];
        assert_eq!(
            detect(&[
                (blob, true),
                (&[b"index.json"], true),
                (&[b"oci-layout"], true)
            ]),
            Some(ImageArchive::OciLayout)
        );
    }

    #[test]
    fn root_filesystems_with_one_mark_are_not_image_archives() {
        assert_eq!(
            detect(&[
                (&[b"manifest.json"], true),
                (&[b"index.json"], true),
                (&[b"bin", b"layer.tar"], true),
                (&[b"usr", b"share", b"oci-layout"], true),
                (&[b"blobs"], false),
            ]),
            None
        );
        // A folder named like the file is not the file.
        assert_eq!(
            detect(&[(&[b"oci-layout"], false), (&[b"index.json"], true)]),
            None
        );
    }
}
