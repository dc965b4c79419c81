//! `GET /v1/system/df` and Docker's `/system/df`: what images, containers and volumes take on
//! disk, and how much of it a prune of what is unused would free.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use conti_proto::{ContainerUsage, DiskUsage, ImageInfo, ImageUsage, UsageSummary, VolumeUsage};

use super::prune::is_stopped;
use super::volume_store::tree_bytes;
use super::volumes::named_sources;
use super::{Engine, EngineResult, blocking};

impl Engine {
    /// Measures every image, container and volume (walks the containers' writable layers and
    /// the volumes' folders).
    pub async fn disk_usage(&self) -> EngineResult<DiskUsage> {
        let engine = self.clone();
        blocking(move || Ok(engine.measure_disk_usage())).await
    }

    fn measure_disk_usage(&self) -> DiskUsage {
        let containers = self.list(true);
        let mut users_of_image: HashMap<&str, usize> = HashMap::new();
        for container in &containers {
            *users_of_image.entry(&container.image_id).or_default() += 1;
        }
        let (images, image_usage) =
            image_usage(&self.inner.images.list_with_layer_sizes(), &users_of_image);

        let container_usage: Vec<(ContainerUsage, bool)> = containers
            .iter()
            .map(|c| {
                let usage = ContainerUsage {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    image: c.image.clone(),
                    size: tree_bytes(&self.container_dir(&c.id).join("upper")),
                    volumes: named_sources(&c.volumes).count(),
                };
                (usage, !is_stopped(c.state))
            })
            .collect();
        let containers = summary(
            container_usage
                .iter()
                .map(|(c, running)| (c.size, *running)),
        );

        let volume_usage: Vec<VolumeUsage> = self
            .list_volumes(&[])
            .into_iter()
            .map(|v| VolumeUsage {
                size: tree_bytes(Path::new(&v.mountpoint)),
                links: v.in_use_by.len(),
                name: v.name,
            })
            .collect();
        let volumes = summary(volume_usage.iter().map(|v| (v.size, v.links > 0)));

        DiskUsage {
            images,
            containers,
            volumes,
            build_cache: UsageSummary::default(),
            image_usage,
            container_usage: container_usage.into_iter().map(|(c, _)| c).collect(),
            volume_usage,
        }
    }
}

/// Objects of `(bytes, in use)`, summed up.
fn summary(objects: impl Iterator<Item = (u64, bool)>) -> UsageSummary {
    objects.fold(UsageSummary::default(), |mut sum, (size, active)| {
        sum.total += 1;
        sum.size += size;
        if active {
            sum.active += 1;
        } else {
            sum.reclaimable += size;
        }
        sum
    })
}

/// Images with the bytes of their layers, and how many containers use each (by image id): a
/// layer shared by several images counts once, and is reclaimable only when no image that has
/// it is used.
fn image_usage(
    images: &[(ImageInfo, Vec<u64>)],
    users_of_image: &HashMap<&str, usize>,
) -> (UsageSummary, Vec<ImageUsage>) {
    let mut holders: HashMap<&str, (u64, usize)> = HashMap::new();
    let mut used_layers: HashSet<&str> = HashSet::new();
    for (image, sizes) in images {
        let used = users_of_image.contains_key(image.id.as_str());
        for (layer, size) in image.layers.iter().zip(sizes) {
            holders.entry(layer).or_insert((*size, 0)).1 += 1;
            if used {
                used_layers.insert(layer);
            }
        }
    }
    let size: u64 = holders.values().map(|(size, _)| size).sum();
    let reclaimable: u64 = holders
        .iter()
        .filter(|(layer, _)| !used_layers.contains(*layer))
        .map(|(_, (size, _))| size)
        .sum();
    let usage: Vec<ImageUsage> = images
        .iter()
        .map(|(image, sizes)| ImageUsage {
            id: image.id.clone(),
            repo_tags: image.repo_tags.clone(),
            created: image.created.clone(),
            size: sizes.iter().sum(),
            shared_size: image
                .layers
                .iter()
                .zip(sizes)
                .filter(|(layer, _)| holders.get(layer.as_str()).is_some_and(|h| h.1 > 1))
                .map(|(_, size)| size)
                .sum(),
            containers: users_of_image.get(image.id.as_str()).copied().unwrap_or(0),
        })
        .collect();
    let summary = UsageSummary {
        total: usage.len(),
        active: usage.iter().filter(|i| i.containers > 0).count(),
        size,
        reclaimable,
    };
    (summary, usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, layers: &[&str]) -> ImageInfo {
        ImageInfo {
            id: id.into(),
            repo_tags: vec![],
            repo_digests: vec![],
            size: 0,
            created: "2026-05-01T12:00:00Z".into(),
            architecture: String::new(),
            os: String::new(),
            layers: layers.iter().map(|l| l.to_string()).collect(),
            config: Default::default(),
        }
    }

    #[test]
    fn shared_layers_count_once_and_are_kept_by_a_used_image() {
        let images = [
            (image("sha256:base", &["l1"]), vec![100]),
            (image("sha256:app", &["l1", "l2"]), vec![100, 20]),
            (image("sha256:other", &["l3"]), vec![7]),
        ];
        let users = HashMap::from([("sha256:app", 2)]);
        let (summary, usage) = image_usage(&images, &users);
        assert_eq!(
            summary,
            UsageSummary {
                total: 3,
                active: 1,
                size: 127,
                reclaimable: 7
            }
        );
        assert_eq!((usage[1].size, usage[1].shared_size), (120, 100));
        assert_eq!((usage[1].containers, usage[0].containers), (2, 0));
        assert_eq!(usage[2].shared_size, 0);
    }

    #[test]
    fn what_is_unused_is_reclaimable() {
        let sum = summary([(10, true), (5, false), (1, false)].into_iter());
        assert_eq!(
            sum,
            UsageSummary {
                total: 3,
                active: 1,
                size: 16,
                reclaimable: 6
            }
        );
    }
}
