//! Which containers a list shows: Docker's `ps --filter` (`label`, `name`, `id`, `status`,
//! `ancestor`), for `GET /v1/containers` and the Docker API alike.

use conti_proto::{ContainerInfo, ContainerState};

use super::Engine;
use super::labels::{LabelFilter, matches_all};

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
}

impl ContainerFilter {
    fn passes(&self, container: &ContainerInfo, ancestor_ids: &[String]) -> bool {
        let any = |values: &[String], test: &dyn Fn(&str) -> bool| {
            values.is_empty() || values.iter().any(|v| test(v))
        };
        let bare_id = container.id.replace('-', "");
        matches_all(&self.labels, &container.labels)
            && any(&self.names, &|part| container.name.contains(part))
            && any(&self.ids, &|prefix| {
                container.id.starts_with(prefix) || bare_id.starts_with(&prefix.replace('-', ""))
            })
            && (self.states.is_empty() || self.states.contains(&container.state))
            && (self.ancestors.is_empty()
                || self.ancestors.contains(&container.image)
                || ancestor_ids.contains(&container.image_id))
    }
}

impl Engine {
    /// The containers that pass `filter`, oldest first: running ones only unless `all` (or
    /// `filter.states` is given).
    pub fn list_filtered(&self, all: bool, filter: &ContainerFilter) -> Vec<ContainerInfo> {
        let all = all || !filter.states.is_empty();
        // An ancestor that names no image here still matches containers created by that name.
        let ancestor_ids: Vec<String> = filter
            .ancestors
            .iter()
            .filter_map(|name| self.find_image(name).ok())
            .map(|image| image.id().to_string())
            .collect();
        let mut infos: Vec<ContainerInfo> = self
            .table()
            .entries
            .values()
            .filter(|e| all || e.container.status.is_running())
            .map(|e| e.info())
            .filter(|info| filter.passes(info, &ancestor_ids))
            .collect();
        infos.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
        infos
    }

    /// Running containers, or all of them.
    pub fn list(&self, all: bool) -> Vec<ContainerInfo> {
        self.list_filtered(all, &ContainerFilter::default())
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
        let pass = |filter: ContainerFilter| filter.passes(&web, &[]);
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
            .passes(&web, ids)
        };
        assert!(by("busybox", &[]));
        assert!(!by("alpine", &[]));
        // `busybox:latest`, `sha256:aa` or an id prefix, resolved by the image store.
        assert!(by("busybox:latest", &["sha256:aa".into()]));
        assert!(!by("alpine", &["sha256:bb".into()]));
    }
}
