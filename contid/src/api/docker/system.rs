//! `/_ping`, `/version` and `/info`: what a client negotiates with and shows of the daemon.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use bollard_stubs::models::{
    SystemInfo, SystemVersion, SystemVersionComponents, SystemVersionPlatform,
};

use super::error::DockerResult;
use super::{API_VERSION, MIN_API_VERSION};
use crate::engine::Engine;

/// `Api-Version` tells the client the newest version it may ask for (the CLI negotiates down to
/// it); `HEAD` answers the same headers.
pub async fn ping() -> impl IntoResponse {
    (
        [
            ("Api-Version", API_VERSION),
            ("Docker-Experimental", "false"),
            ("OSType", "linux"),
            (
                header::CACHE_CONTROL.as_str(),
                "no-cache, no-store, must-revalidate",
            ),
            (header::PRAGMA.as_str(), "no-cache"),
            (header::CONTENT_TYPE.as_str(), "text/plain; charset=utf-8"),
        ],
        "OK",
    )
}

pub async fn version(State(engine): State<Engine>) -> Json<SystemVersion> {
    let info = engine.info();
    let version = env!("CARGO_PKG_VERSION").to_string();
    let arch = docker_arch();
    Json(SystemVersion {
        platform: Some(SystemVersionPlatform {
            name: "Conti".to_string(),
        }),
        components: Some(vec![SystemVersionComponents {
            name: "Conti".to_string(),
            version: version.clone(),
            details: None,
        }]),
        version: Some(version),
        api_version: Some(API_VERSION.to_string()),
        min_api_version: Some(MIN_API_VERSION.to_string()),
        git_commit: Some(String::new()),
        go_version: Some(String::new()),
        os: Some("linux".to_string()),
        arch: Some(arch.to_string()),
        kernel_version: Some(info.kernel),
        experimental: Some(false),
        build_time: Some(String::new()),
    })
}

pub async fn info(State(engine): State<Engine>) -> Json<SystemInfo> {
    let info = engine.info();
    let cgroup_version = if info.cgroup_layout == "v2" { "2" } else { "1" };
    Json(SystemInfo {
        id: Some(String::new()),
        containers: Some(info.containers.total as i64),
        containers_running: Some(info.containers.running as i64),
        containers_paused: Some(0),
        containers_stopped: Some((info.containers.created + info.containers.exited) as i64),
        images: Some(info.images as i64),
        driver: Some("overlay2".to_string()),
        docker_root_dir: Some(info.root),
        logging_driver: Some("json-file".to_string()),
        cgroup_driver: Some(bollard_stubs::models::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if cgroup_version == "2" {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_2
        } else {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_1
        }),
        kernel_version: Some(info.kernel),
        operating_system: Some(info.operating_system),
        os_type: Some("linux".to_string()),
        architecture: Some(std::env::consts::ARCH.to_string()),
        ncpu: Some(info.cpus as i64),
        mem_total: Some(info.memory_bytes as i64),
        name: Some(info.hostname),
        server_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        default_runtime: Some("conti".to_string()),
        security_options: Some(vec!["name=seccomp,profile=builtin".to_string()]),
        ..Default::default()
    })
}

/// Go's name of this machine's architecture, as Docker reports it.
pub fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// `docker system df`: images, containers and volumes, with their sizes (Conti keeps no build
/// cache).
pub async fn disk_usage(State(engine): State<Engine>) -> DockerResult<Json<serde_json::Value>> {
    let usage = engine.disk_usage().await?;
    let images: Vec<_> = engine
        .images()
        .iter()
        .filter_map(|image| {
            let measured = usage.image_usage.iter().find(|u| u.id == image.id)?;
            let mut summary = super::shapes::image_summary(image, measured.containers as i64);
            summary.shared_size = measured.shared_size as i64;
            Some(summary)
        })
        .collect();
    let containers: Vec<_> = engine
        .list(true)
        .iter()
        .map(|info| {
            let mut summary = super::shapes::container_summary(info);
            summary.size_rw = usage
                .container_usage
                .iter()
                .find(|u| u.id == info.id)
                .map(|u| u.size as i64);
            summary
        })
        .collect();
    let volumes: Vec<_> = engine
        .list_volumes(&[])
        .iter()
        .map(|volume| {
            let mut shape = super::volumes::volume_json(volume);
            if let Some(measured) = usage.volume_usage.iter().find(|u| u.name == volume.name) {
                shape["UsageData"]["Size"] = measured.size.into();
            }
            shape
        })
        .collect();
    Ok(Json(serde_json::json!({
        "LayersSize": usage.images.size,
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    })))
}
