//! Podman as the scale scenario's peer: the busybox tar imported as an image, a podman network of
//! the run's own (netavark, with aardvark-dns answering its containers' names), and the removal
//! of all of it (also by the cleanup, on an error or a signal).

use std::process::{Command, Stdio};

use crate::cleanup;
use crate::scale::{ScaleTarget, podman};

/// The image and network names of a run: `localhost/<run>-busybox`, `<run>`.
fn names(run_name: &str) -> (String, String) {
    (
        format!("localhost/{run_name}-busybox"),
        run_name.to_string(),
    )
}

/// Imports the image and creates the network; the target and a line saying how it is set up.
pub fn prepare(
    run_name: &str,
    busybox_tar: &std::path::Path,
    largest: usize,
) -> Result<(ScaleTarget<'static>, String), String> {
    podman(&["--version"]).map_err(|e| format!("--podman: {e} (apt-get install podman)"))?;
    let (image, network) = names(run_name);
    cleanup::register_podman();
    let tar = busybox_tar.to_string_lossy();
    podman(&["import", &tar, &image])?;
    let prefix = 32 - (largest + 3).next_power_of_two().trailing_zeros().max(8);
    let subnet = conti_tests::network::unique_subnet_of(prefix as u8);
    podman(&["network", "create", "--subnet", &subnet, &network])?;
    // Podman's defaults (nofile 1048576, nproc 4194304) are above the hard limits of these
    // machines, and crun may not raise them without CAP_SYS_RESOURCE, which the sessions lack:
    // modest ones that every host allows (conti's containers inherit the daemon's).
    let ulimits = vec![
        "--ulimit=nofile=1024:1024".to_string(),
        "--ulimit=nproc=4096:4096".to_string(),
    ];
    let line = format!(
        "podman: network {network} on {subnet} (netavark, aardvark-dns), image {image}, {}",
        ulimits.join(" ")
    );
    Ok((
        ScaleTarget::Podman {
            network,
            image,
            prefix: run_name.to_string(),
            ulimits,
        },
        line,
    ))
}

/// Removes the run's podman containers (`<run>-*`), network and image; quietly, whatever is
/// there.
pub fn remove(run_name: &str) {
    let (image, network) = names(run_name);
    let listed = Command::new("podman")
        .args(["ps", "-a", "-q", "--filter", &format!("name=^{run_name}-")])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(output) = listed {
        let ids = String::from_utf8_lossy(&output.stdout);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f", "-t", "0"];
            args.extend(ids);
            let _ = podman(&args);
        }
    }
    let _ = podman(&["network", "rm", "-f", &network]);
    let _ = podman(&["rmi", "-f", &image]);
}
