//! What the host sees: processes, mounts, cgroups and open files, read from `/proc` and
//! `/sys/fs/cgroup`. Used to check isolation, to find leaks, and to clean up after a test.
//!
//! Processes are always named by pid, found through what they are attached to (a cgroup, a file
//! under a test's folder, a parent), never by their name.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// Pids of every process on the host.
pub fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Parent pid and state letter from `/proc/<pid>/stat`.
pub fn stat(pid: i32) -> Option<(i32, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: the fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((ppid, state))
}

pub fn parent_pid(pid: i32) -> Option<i32> {
    stat(pid).map(|(ppid, _)| ppid)
}

/// True while the process exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    matches!(stat(pid), Some((_, state)) if state != 'Z' && state != 'X')
}

/// Lines of `/proc/<pid>/cgroup` (`hierarchy-id:controllers:path`).
pub fn cgroup_lines(pid: i32) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

/// True when the process sits in a cgroup with a path component equal to `name` in any hierarchy.
pub fn in_cgroup_named(pid: i32, name: &str) -> bool {
    cgroup_lines(pid).iter().any(|line| {
        let path = line.splitn(3, ':').nth(2).unwrap_or_default();
        path.split('/').any(|component| component == name)
    })
}

/// Targets of the process's open fds (as `readlink` shows them), empty when unreadable.
pub fn open_files(pid: i32) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| fs::read_link(e.ok()?.path()).ok())
        .collect()
}

pub fn fd_count(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// True when the process's cwd or one of its open files is under `dir`.
pub fn uses_path_under(pid: i32, dir: &Path) -> bool {
    let cwd = fs::read_link(format!("/proc/{pid}/cwd")).ok();
    cwd.iter()
        .chain(open_files(pid).iter())
        .any(|p| p.starts_with(dir))
}

/// Every live process attached to a test: in a cgroup named `cgroup_name`, or using a file under
/// `dir`, plus all descendants of those and of `roots`. Never includes this process or pid 1.
pub fn processes_of(dir: &Path, cgroup_name: &str, roots: &[i32]) -> BTreeSet<i32> {
    let me = std::process::id() as i32;
    let mut parents: HashMap<i32, i32> = HashMap::new();
    let mut found: BTreeSet<i32> = roots
        .iter()
        .copied()
        .filter(|&p| p > 1 && p != me && is_alive(p))
        .collect();
    for pid in all_pids() {
        if pid == me || pid == 1 {
            continue;
        }
        let Some((ppid, state)) = stat(pid) else {
            continue;
        };
        if state == 'Z' || state == 'X' {
            continue;
        }
        parents.insert(pid, ppid);
        if in_cgroup_named(pid, cgroup_name) || uses_path_under(pid, dir) {
            found.insert(pid);
        }
    }
    // Descendants: a child whose parent is already found.
    loop {
        let before = found.len();
        for (&pid, ppid) in &parents {
            if found.contains(ppid) && pid != me {
                found.insert(pid);
            }
        }
        if found.len() == before {
            return found;
        }
    }
}

/// Lines of a mountinfo file, mount points and sources decoded.
pub fn mountinfo(pid: &str) -> Vec<String> {
    fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .map(|s| s.lines().map(unescape).collect())
        .unwrap_or_default()
}

/// Mount points (field 5) of `/proc/self/mountinfo` under `dir`, deepest first.
pub fn mount_points_under(dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mountinfo("self")
        .iter()
        .filter_map(|line| line.split(' ').nth(4).map(PathBuf::from))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let value =
                (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupMount {
    pub point: PathBuf,
    /// `cgroup` (v1) or `cgroup2`.
    pub fstype: String,
    /// The super options: for v1, the controllers it carries among them (`rw,blkio`).
    pub options: String,
}

/// Every cgroup hierarchy (v1 controllers, named hierarchies, cgroup2).
pub fn cgroup_hierarchies() -> Vec<CgroupMount> {
    mountinfo("self")
        .iter()
        .filter_map(|line| {
            // Optional fields end at " - "; the filesystem type, source and super options follow.
            let (before, after) = line.split_once(" - ")?;
            let mut fields = after.split(' ');
            let (fstype, _source, options) = (fields.next()?, fields.next()?, fields.next()?);
            let point = before.split(' ').nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| CgroupMount {
                point: PathBuf::from(point),
                fstype: fstype.to_string(),
                options: options.to_string(),
            })
        })
        .collect()
}

/// Mount points of every cgroup hierarchy (v1 controllers, named hierarchies, cgroup2).
pub fn cgroup_mounts() -> Vec<PathBuf> {
    cgroup_hierarchies()
        .into_iter()
        .map(|mount| mount.point)
        .collect()
}

/// Every cgroup directory named `name` in any hierarchy, looked for a few levels deep (a daemon
/// may nest its parent under the cgroup it runs in).
pub fn cgroup_dirs_named(name: &str) -> Vec<PathBuf> {
    cgroup_dirs_where(|candidate| candidate == name)
}

/// Every cgroup directory whose name satisfies `matches`, in any hierarchy, a few levels deep;
/// not the ones below a match.
pub fn cgroup_dirs_where(matches: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    fn walk(dir: &Path, matches: &dyn Fn(&str) -> bool, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            if entry.file_name().to_str().is_some_and(matches) {
                found.push(path);
            } else if depth > 0 {
                walk(&path, matches, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    for mount in cgroup_mounts() {
        walk(&mount, &matches, 3, &mut found);
    }
    found
}

/// Directories below `dir` (not `dir` itself), deepest first.
pub fn cgroup_children(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), found);
                found.push(entry.path());
            }
        }
    }
    let mut found = Vec::new();
    walk(dir, &mut found);
    found
}

/// Removes a cgroup directory and everything below it, leaves first. Cgroup directories hold
/// only kernel files, so `rmdir` is the way; it fails with EBUSY while a process is still in
/// one, so this retries until `timeout`. Returns the directories it could not remove.
pub fn remove_cgroup_tree(dir: &Path, timeout: Duration) -> Vec<PathBuf> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut left = Vec::new();
        for path in cgroup_children(dir)
            .into_iter()
            .chain(std::iter::once(dir.to_path_buf()))
        {
            match fs::remove_dir(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(_) => left.push(path),
            }
        }
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Pids listed in `cgroup.procs` of `dir` and every cgroup below it.
pub fn pids_in_cgroup_tree(dir: &Path) -> Vec<i32> {
    std::iter::once(dir.to_path_buf())
        .chain(cgroup_children(dir))
        .flat_map(|d| {
            fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

/// The value of a `Key:` line of `/proc/<pid>/status` (e.g. `NSpid`).
pub fn status_field(pid: i32, key: &str) -> Option<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(key)?
            .strip_prefix(':')
            .map(|v| v.trim().to_string())
    })
}

/// The namespace a process is in, e.g. `namespace(pid, "ipc")` → `ipc:[4026531839]`.
pub fn namespace(pid: &str, kind: &str) -> Option<String> {
    fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .ok()
        .map(|p| p.display().to_string())
}

/// Names of the host's network interfaces (`/proc/net/dev` of this process's namespace).
pub fn interface_names() -> BTreeSet<String> {
    fs::read_to_string("/proc/self/net/dev")
        .expect("/proc/self/net/dev")
        .lines()
        .filter_map(|line| Some(line.split_once(':')?.0.trim().to_string()))
        .collect()
}

/// `listed` are the host's interfaces as seen at some moment between `before` and `after` (two
/// [`interface_names`]): parallel tests' containers add and remove veths (`vc*`) on the host
/// meanwhile, so every interface present at both ends must be listed, and nothing present at
/// neither but such a veth.
pub fn assert_host_interfaces(
    before: &BTreeSet<String>,
    listed: &BTreeSet<String>,
    after: &BTreeSet<String>,
) {
    assert!(
        before.intersection(after).all(|name| listed.contains(name))
            && listed.iter().all(|name| {
                before.contains(name) || after.contains(name) || name.starts_with("vc")
            }),
        "host interfaces {before:?} then {after:?}; listed: {listed:?}"
    );
}
