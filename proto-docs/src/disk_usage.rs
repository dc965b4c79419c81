//! What the daemon's objects take on disk (`GET /v1/system/df`) and what the prunes delete
//! (`POST /v1/containers/prune`, `POST /v1/networks/prune`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/containers/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ContainerPruneReport {
    /// Ids of the containers deleted.
    pub deleted: Vec<String>,
    /// Bytes of their writable layers, deleted with them.
    pub space_reclaimed: u64,
}

/// `POST /v1/networks/prune` answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NetworkPruneReport {
    /// Names of the networks deleted.
    pub deleted: Vec<String>,
}

/// `GET /v1/system/df` answer: a summary per kind of object, then each object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DiskUsage {
    pub images: UsageSummary,
    pub containers: UsageSummary,
    pub volumes: UsageSummary,
    /// Conti keeps no build cache: always zeros.
    pub build_cache: UsageSummary,
    /// Each image, newest first.
    pub image_usage: Vec<ImageUsage>,
    /// Each container, oldest first.
    pub container_usage: Vec<ContainerUsage>,
    /// Each volume, by name.
    pub volume_usage: Vec<VolumeUsage>,
}

/// The objects of one kind, as `docker system df` sums them up.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct UsageSummary {
    /// How many there are.
    pub total: usize,
    /// How many are in use: images and volumes a container (in any state) refers to, running
    /// containers.
    pub active: usize,
    /// Bytes they take (layers shared by images counted once).
    pub size: u64,
    /// Bytes a prune of everything unused would free: of the layers only unused images have,
    /// of the writable layers of containers that do not run, of volumes no container refers to.
    pub reclaimable: u64,
}

/// An image of `GET /v1/system/df`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ImageUsage {
    pub id: String,
    pub repo_tags: Vec<String>,
    /// RFC 3339.
    pub created: String,
    /// Bytes of its layers.
    pub size: u64,
    /// Bytes of its layers that another image has too.
    pub shared_size: u64,
    /// How many containers, in any state, were created from it.
    pub containers: usize,
}

/// A container of `GET /v1/system/df`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct ContainerUsage {
    pub id: String,
    pub name: String,
    pub image: String,
    /// Bytes of its writable layer: the files it wrote over its image.
    pub size: u64,
    /// How many named volumes it mounts.
    pub volumes: usize,
}

/// A volume of `GET /v1/system/df`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct VolumeUsage {
    pub name: String,
    /// How many containers, in any state, refer to it.
    pub links: usize,
    /// Bytes of its files.
    pub size: u64,
}
