//! Which containers a list shows: Docker's `ps --filter` (`label`, `name`, `id`, `status`,
//! `ancestor`, `network`, `volume`, `exited`, `before`, `since`), for `GET /v1/containers` and
//! the Docker API alike.

use conti_proto::{ContainerInfo, ContainerState};

use super::labels::{LabelFilter, matches_all};
use super::{Engine, EngineResult};

/// A container passes when it has every label of `labels` and, for each other field that is
/// not empty, matches one of its values (Docker's rule: the values of one filter are
/// alternatives, different filters must all hold). The default passes everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerFilter {
    pub labels: Vec<LabelFilter>,
    /// Parts of names: the container's name contains one.
    pub names: Vec<String>,
    /// Prefixes of ids (dashes optional, as references).
    pub ids: Vec<String>,
    /// States. Given, containers that do not run are listed without `all`, as Docker does.
    pub states: Vec<ContainerState>,
    /// Images: the name the create gave, or any reference or id of the image the container was
    /// created from.
    pub ancestors: Vec<String>,
    /// Networks, by name or id: the container is on one (`bridge`, `host` and `none` are
    /// modes as well as names).
    pub networks: Vec<String>,
    /// Volumes, by name, or mount points: the container mounts one.
    pub volumes: Vec<String>,
    /// Exit codes: the container has exited with one. Given, containers that do not run are
    /// listed without `all`.
    pub exit_codes: Vec<i32>,
    /// A container (reference): only containers created before it.
    pub before: Option<String>,
    /// A container (reference): only containers created after it.
    pub since: Option<String>,
}

/// What a filter's names stand for, looked up once per list.
#[derive(Debug, Default)]
struct Resolved {
    /// Ids of the images `ancestors` name.
    ancestor_ids: Vec<String>,
    /// Names of the networks `networks` name by id.
    network_names: Vec<String>,
    /// `(created, id)` of `before` and `since`: the order of the list.
    before: Option<(String, String)>,
    since: Option<(String, String)>,
}

impl ContainerFilter {
    fn passes(&self, container: &ContainerInfo, resolved: &Resolved) -> bool {
        let any = |values: &[String], test: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let bare_id = container.id.replace('-', "");
        let order = (container.created.clone(), container.id.clone());
        let on_network = |name: &str| {
            container.network.to_string() == name
                || container.networks.iter().any(|n| n.network == name)
        };
        matches_all(&self.labels, &container.labels)
            && any(&self.names, &|part| container.name.contains(part))
            && any(&self.ids, &|prefix| {
                container.id.starts_with(prefix) || bare_id.starts_with(&prefix.replace('-', ""))
            })
            && (self.states.is_empty() || self.states.contains(&container.state))
            && (self.ancestors.is_empty()
                || self.ancestors.contains(&container.image)
                || resolved.ancestor_ids.contains(&container.image_id))
            && (self.networks.is_empty()
                || self.networks.iter().any(|n| on_network(n))
                || resolved.network_names.iter().any(|n| on_network(n)))
            && any(&self.volumes, &|volume| {
                container
                    .volumes
                    .iter()
                    .any(|v| v.source == volume || v.target == volume)
            })
            && (self.exit_codes.is_empty()
                || (container.state == ContainerState::Exited
                    && container
                        .exit_code
                        .is_some_and(|code| self.exit_codes.contains(&code))))
            && resolved
                .before
                .as_ref()
                .is_none_or(|before| order < *before)
            && resolved.since.as_ref().is_none_or(|since| order > *since)
    }
}

impl Engine {
    /// The containers that pass `filter`, oldest first: running ones only unless `all` (or
    /// `filter.states` is given).
    pub fn list_filtered(
        &self,
        all: bool,
        filter: &ContainerFilter,
    ) -> EngineResult<Vec<ContainerInfo>> {
        let all = all || !filter.states.is_empty() || !filter.exit_codes.is_empty();
        let resolved = self.resolve_filter(filter)?;
        let mut infos: Vec<ContainerInfo> = self
            .table()
            .entries
            .values()
            .filter(|e| all || e.container.status.is_running())
            .map(|e| e.info())
            .filter(|info| filter.passes(info, &resolved))
            .collect();
        infos.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        Ok(infos)
    }

    /// Looks up the images, networks and containers a filter names: an ancestor or network
    /// that names none here still matches by the name given; `before` and `since` must name a
    /// container.
    fn resolve_filter(&self, filter: &ContainerFilter) -> EngineResult<Resolved> {
        let ancestor_ids = filter
            .ancestors
            .iter()
            .filter_map(|name| self.find_image(name).ok())
            .map(|image| image.id().to_string())
            .collect();
        let network_names = if filter.networks.is_empty() {
            Vec::new()
        } else {
            self.list_networks()
                .into_iter()
                .filter(|n| {
                    filter
                        .networks
                        .iter()
                        .any(|id| !id.is_empty() && n.id.starts_with(id.as_str()))
                })
                .map(|n| n.name)
                .collect()
        };
        let order = |reference: &Option<String>| {
            reference
                .as_deref()
                .map(|r| self.get(r).map(|c| (c.created, c.id)))
                .transpose()
        };
        Ok(Resolved {
            ancestor_ids,
            network_names,
            before: order(&filter.before)?,
            since: order(&filter.since)?,
        })
    }

    /// Running containers, or all of them.
    pub fn list(&self, all: bool) -> Vec<ContainerInfo> {
        let infos = self.list_filtered(all, &ContainerFilter::default());
        // Nothing to look up in the default filter: it cannot fail.
        infos.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::test_config;
    use crate::engine::{Container, ContainerConfig, ContainerStatus};

    fn container(name: &str, state: ContainerState, labels: &[(&str, &str)]) -> ContainerInfo {
        let config = ContainerConfig {
            id: "0f3c2a9e-5b1d-4c8e-9a7f-123456789abc".into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: "sha256:aa".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..test_config()
        };
        let mut info = Container {
            config,
            status: ContainerStatus::Created,
            restarts: Default::default(),
        }
        .info();
        info.state = state;
        info
    }

    #[test]
    fn values_of_one_filter_are_alternatives_and_filters_all_hold() {
        let web = container(
            "proj-web-1",
            ContainerState::Running,
            &[("com.docker.compose.project", "proj"), ("tier", "front")],
        );
        let pass = |filter: ContainerFilter| filter.passes(&web, &Resolved::default());
        assert!(pass(ContainerFilter::default()));
        let labels = |texts: &[&str]| texts.iter().map(|t| LabelFilter::parse(t)).collect();
        assert!(pass(ContainerFilter {
            labels: labels(&["com.docker.compose.project=proj", "tier"]),
            ..Default::default()
        }));
        assert!(!pass(ContainerFilter {
            labels: labels(&["com.docker.compose.project=proj", "tier=back"]),
            ..Default::default()
        }));
        assert!(pass(ContainerFilter {
            names: vec!["db".into(), "web".into()],
            ids: vec!["0f3c2a9e5b".into()],
            states: vec![ContainerState::Exited, ContainerState::Running],
            ..Default::default()
        }));
        assert!(pass(ContainerFilter {
            ids: vec!["0f3c2a9e-5b1d".into()],
            ..Default::default()
        }));
        assert!(!pass(ContainerFilter {
            names: vec!["web".into()],
            states: vec![ContainerState::Exited],
            ..Default::default()
        }));
        assert!(!pass(ContainerFilter {
            ids: vec!["1f".into()],
            ..Default::default()
        }));
    }

    #[test]
    fn an_ancestor_is_the_name_given_or_the_images_id() {
        let web = container("web", ContainerState::Created, &[]);
        let by = |ancestor: &str, ids: &[String]| {
            ContainerFilter {
                ancestors: vec![ancestor.into()],
                ..Default::default()
            }
            .passes(
                &web,
                &Resolved {
                    ancestor_ids: ids.to_vec(),
                    ..Default::default()
                },
            )
        };
        assert!(by("busybox", &[]));
        assert!(!by("alpine", &[]));
        // `busybox:latest`, `sha256:aa` or an id prefix, resolved by the image store.
        assert!(by("busybox:latest", &["sha256:aa".into()]));
        assert!(!by("alpine", &["sha256:bb".into()]));
    }

    #[test]
    fn networks_volumes_exit_codes_and_order() {
        let mut web = container("web", ContainerState::Exited, &[]);
        web.exit_code = Some(3);
        web.network = conti_proto::NetworkMode::Network("front".into());
        web.volumes = vec![conti_proto::VolumeSpec {
            source: "data".into(),
            target: "/srv".into(),
            read_only: false,
        }];
        web.created = "2026-05-01T12:00:01Z".into();
        let none = Resolved::default();
        let pass = |filter: ContainerFilter, resolved: &Resolved| filter.passes(&web, resolved);
        let on = |networks: &[&str]| ContainerFilter {
            networks: networks.iter().map(|n| n.to_string()).collect(),
            ..Default::default()
        };
        assert!(pass(on(&["back", "front"]), &none));
        assert!(!pass(on(&["bridge"]), &none));
        let by_id = Resolved {
            network_names: vec!["front".into()],
            ..Default::default()
        };
        assert!(pass(on(&["3fa9"]), &by_id));
        for volume in ["data", "/srv"] {
            let filter = ContainerFilter {
                volumes: vec![volume.into()],
                ..Default::default()
            };
            assert!(pass(filter, &none), "{volume}");
        }
        let mounts = |volume: &str| ContainerFilter {
            volumes: vec![volume.into()],
            ..Default::default()
        };
        assert!(!pass(mounts("cache"), &none));
        let exited = |codes: Vec<i32>| ContainerFilter {
            exit_codes: codes,
            ..Default::default()
        };
        assert!(pass(exited(vec![0, 3]), &none));
        assert!(!pass(exited(vec![0]), &none));
        let order = |time: &str| Some((time.to_string(), "id".to_string()));
        let after_it = Resolved {
            before: order("2026-05-01T12:00:02Z"),
            since: order("2026-05-01T12:00:00Z"),
            ..Default::default()
        };
        assert!(pass(ContainerFilter::default(), &after_it));
        let before_it = Resolved {
            since: order("2026-05-01T12:00:02Z"),
            ..Default::default()
        };
        assert!(!pass(ContainerFilter::default(), &before_it));
        // A container is neither before nor after itself.
        let itself = Resolved {
            before: Some((web.created.clone(), web.id.clone())),
            ..Default::default()
        };
        assert!(!pass(ContainerFilter::default(), &itself));
    }
}
