//! The progress of a pull as `docker pull` shows it: a line per layer (`a307d6ecc620: Pull
//! complete`), then `Digest:` and `Status:`.
//!
//! On a terminal each layer's line is redrawn in place, with a bar while it downloads; elsewhere
//! (a pipe, a log file) a line is printed when a layer's step changes and never redrawn, so a
//! download is one `Downloading` line, not one per chunk.

use std::io::{self, IsTerminal, Write};

use conti_proto::{PullEvent, PullLayer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::human_size;
use crate::reference::{familiar, pulling_from, split_tag, with_default_tag};

/// Where the progress goes: stdout for `pull`, stderr for the pull `run` and `create` make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressOutput {
    Stdout,
    Stderr,
}

/// The widest bar, docker's.
const BAR_WIDTH: usize = 50;
/// What a downloading line needs besides its bar: `<12 hex>: Downloading [] 999.9MB/999.9MB`.
const LINE_WITHOUT_BAR: usize = 48;
/// Narrower than this, a bar says nothing: the sizes alone are shown.
const MIN_BAR_WIDTH: usize = 10;

/// Where a layer is, as its line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerStep {
    Pulling,
    Waiting,
    Exists,
    Downloading { current: u64, total: u64 },
    Verifying,
    Extracting,
    Done,
}

impl LayerStep {
    /// The words of the step, without the figures of a download: what a line without redraws
    /// prints once.
    fn words(self) -> &'static str {
        match self {
            LayerStep::Pulling => "Pulling fs layer",
            LayerStep::Waiting => "Waiting",
            LayerStep::Exists => "Already exists",
            LayerStep::Downloading { .. } => "Downloading",
            LayerStep::Verifying => "Verifying Checksum",
            LayerStep::Extracting => "Extracting",
            LayerStep::Done => "Pull complete",
        }
    }

    /// The step as a redrawn line shows it: with a bar `bar_width` wide (none when 0) and the
    /// sizes while downloading.
    fn text(self, bar_width: usize) -> String {
        let LayerStep::Downloading { current, total } = self else {
            return self.words().to_string();
        };
        if total == 0 {
            return format!("Downloading {}", human_size(current));
        }
        let sizes = format!("{}/{}", human_size(current), human_size(total));
        if bar_width == 0 {
            return format!("Downloading {sizes}");
        }
        format!("Downloading {} {sizes}", bar(current, total, bar_width))
    }
}

/// Docker's bar: `[=====>      ]`, `width` characters between the brackets.
fn bar(current: u64, total: u64, width: usize) -> String {
    let width = width.max(1);
    let done = (current.min(total) as u128 * width as u128 / total.max(1) as u128) as usize;
    let filled = done.min(width - 1);
    format!(
        "[{}>{}]",
        "=".repeat(filled),
        " ".repeat(width - 1 - filled)
    )
}

/// The width of the bar on a terminal `columns` wide: 0 when too narrow for one.
fn bar_width(columns: usize) -> usize {
    match columns.saturating_sub(LINE_WITHOUT_BAR).min(BAR_WIDTH) {
        width if width < MIN_BAR_WIDTH => 0,
        width => width,
    }
}

/// The 12 hex digits docker names a layer by.
fn short_digest(digest: &str) -> &str {
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

struct Layer {
    digest: String,
    step: LayerStep,
    /// Its line on the terminal.
    bar: Option<ProgressBar>,
}

/// Lines redrawn in place on a terminal.
struct Bars {
    multi: MultiProgress,
    bar_width: usize,
}

/// Shows the events of one pull as they come.
pub struct PullProgress<W: Write> {
    /// The lines that are not redrawn (all of them without `bars`).
    out: W,
    bars: Option<Bars>,
    /// The reference as the user typed it.
    reference: String,
    layers: Vec<Layer>,
    /// A layer was downloaded (else the image was up to date).
    downloaded: bool,
}

impl PullProgress<Box<dyn Write>> {
    /// Bars on `output` when it is a terminal, else plain lines.
    pub fn new(output: ProgressOutput, reference: &str) -> PullProgress<Box<dyn Write>> {
        let (out, terminal, target): (Box<dyn Write>, bool, fn() -> ProgressDrawTarget) =
            match output {
                ProgressOutput::Stdout => (
                    Box::new(io::stdout()),
                    io::stdout().is_terminal(),
                    ProgressDrawTarget::stdout,
                ),
                ProgressOutput::Stderr => (
                    Box::new(io::stderr()),
                    io::stderr().is_terminal(),
                    ProgressDrawTarget::stderr,
                ),
            };
        if !terminal {
            return PullProgress::lines(out, reference);
        }
        let columns = crate::terminal::size().map_or(80, |(_, columns)| usize::from(columns));
        PullProgress::bars(out, target(), columns, reference)
    }
}

impl<W: Write> PullProgress<W> {
    /// A line per step, nothing redrawn.
    pub fn lines(out: W, reference: &str) -> PullProgress<W> {
        PullProgress {
            out,
            bars: None,
            reference: reference.to_string(),
            layers: Vec::new(),
            downloaded: false,
        }
    }

    /// A line per layer redrawn on `target`, a terminal `columns` wide; the other lines on
    /// `out`, the same terminal.
    pub fn bars(
        out: W,
        target: ProgressDrawTarget,
        columns: usize,
        reference: &str,
    ) -> PullProgress<W> {
        PullProgress {
            bars: Some(Bars {
                multi: MultiProgress::with_draw_target(target),
                bar_width: bar_width(columns),
            }),
            ..PullProgress::lines(out, reference)
        }
    }

    /// Shows `event`.
    pub fn show(&mut self, event: &PullEvent) -> io::Result<()> {
        match event {
            PullEvent::Resolved { layers, .. } => self.resolved(layers),
            PullEvent::Waiting { layer } => self.step(layer, LayerStep::Waiting),
            PullEvent::Exists { layer } => self.step(layer, LayerStep::Exists),
            PullEvent::Downloading {
                layer,
                current,
                total,
            } => {
                self.downloaded = true;
                let step = LayerStep::Downloading {
                    current: *current,
                    total: *total,
                };
                self.step(layer, step)
            }
            PullEvent::Verifying { layer } => self.step(layer, LayerStep::Verifying),
            PullEvent::Extracting { layer } => {
                self.downloaded = true;
                self.step(layer, LayerStep::Extracting)
            }
            PullEvent::LayerDone { layer } => self.step(layer, LayerStep::Done),
            PullEvent::Done {
                reference, digest, ..
            } => self.done(reference, digest),
            // The caller reports it (the client turns it into an error).
            PullEvent::Error { .. } => Ok(()),
        }
    }

    /// Leaves the lines as they are, for an error to be reported below them.
    pub fn abandon(&mut self) {
        for layer in &self.layers {
            if let Some(bar) = &layer.bar {
                bar.abandon();
            }
        }
    }

    fn resolved(&mut self, layers: &[PullLayer]) -> io::Result<()> {
        if split_tag(&self.reference).1.is_none() && !self.reference.contains('@') {
            writeln!(self.out, "Using default tag: latest")?;
        }
        let (version, path) = pulling_from(&self.reference);
        writeln!(self.out, "{version}: Pulling from {path}")?;
        self.out.flush()?;
        for layer in layers {
            if !self.layers.iter().any(|known| known.digest == layer.digest) {
                self.add_layer(&layer.digest)?;
            }
        }
        Ok(())
    }

    fn add_layer(&mut self, digest: &str) -> io::Result<usize> {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.multi.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("{prefix}: {msg}").expect("a valid template"),
            );
            bar.set_prefix(short_digest(digest).to_string());
            bar
        });
        self.layers.push(Layer {
            digest: digest.to_string(),
            step: LayerStep::Pulling,
            bar,
        });
        let index = self.layers.len() - 1;
        self.draw(index)?;
        Ok(index)
    }

    fn step(&mut self, digest: &str, step: LayerStep) -> io::Result<()> {
        let index = match self.layers.iter().position(|layer| layer.digest == digest) {
            Some(index) => index,
            // Not in the manifest contid resolved: shown all the same.
            None => self.add_layer(digest)?,
        };
        let layer = &mut self.layers[index];
        let changed = layer.step.words() != step.words();
        layer.step = step;
        if changed || self.bars.is_some() {
            self.draw(index)?;
        }
        Ok(())
    }

    fn draw(&mut self, index: usize) -> io::Result<()> {
        let layer = &self.layers[index];
        match (&self.bars, &layer.bar) {
            (Some(bars), Some(bar)) => {
                bar.set_message(layer.step.text(bars.bar_width));
                Ok(())
            }
            _ => {
                let short = short_digest(&layer.digest);
                writeln!(self.out, "{short}: {}", layer.step.words())?;
                self.out.flush()
            }
        }
    }

    fn done(&mut self, reference: &str, digest: &str) -> io::Result<()> {
        for layer in &self.layers {
            if let Some(bar) = &layer.bar {
                bar.finish();
            }
        }
        let name = familiar(&with_default_tag(reference));
        writeln!(self.out, "Digest: {digest}")?;
        if self.downloaded {
            writeln!(self.out, "Status: Downloaded newer image for {name}")?;
        } else {
            writeln!(self.out, "Status: Image is up to date for {name}")?;
        }
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use super::*;

    const LAYER_A: &str = "sha256:a307d6ecc6205b6b4d5b3e7e4c1f0d8e8f2ac7c6bb9c0a2d3e4f5a6b7c8d9e0f";
    const LAYER_B: &str = "sha256:b2c3d4e5f6a7b2c3d4e5f6a7b2c3d4e5f6a7b2c3d4e5f6a7b2c3d4e5f6a7b2c3";

    fn events() -> Vec<PullEvent> {
        let layer = |digest: &str| digest.to_string();
        vec![
            PullEvent::Resolved {
                reference: "docker.io/library/busybox:latest".into(),
                digest: "sha256:manifest".into(),
                layers: vec![
                    PullLayer {
                        digest: layer(LAYER_A),
                        size: 2_000_000,
                    },
                    PullLayer {
                        digest: layer(LAYER_B),
                        size: 10,
                    },
                ],
            },
            PullEvent::Exists {
                layer: layer(LAYER_B),
            },
            PullEvent::Downloading {
                layer: layer(LAYER_A),
                current: 0,
                total: 2_000_000,
            },
            PullEvent::Downloading {
                layer: layer(LAYER_A),
                current: 1_000_000,
                total: 2_000_000,
            },
            PullEvent::Downloading {
                layer: layer(LAYER_A),
                current: 2_000_000,
                total: 2_000_000,
            },
            PullEvent::Verifying {
                layer: layer(LAYER_A),
            },
            PullEvent::Extracting {
                layer: layer(LAYER_A),
            },
            PullEvent::LayerDone {
                layer: layer(LAYER_A),
            },
            PullEvent::Done {
                reference: "docker.io/library/busybox:latest".into(),
                id: "sha256:image".into(),
                digest: "sha256:manifest".into(),
            },
        ]
    }

    #[test]
    fn without_a_terminal_each_step_is_one_line() {
        let mut progress = PullProgress::lines(Vec::new(), "busybox");
        for event in events() {
            progress.show(&event).unwrap();
        }
        let text = String::from_utf8(progress.out).unwrap();
        assert_eq!(
            text,
            "Using default tag: latest\n\
             latest: Pulling from library/busybox\n\
             a307d6ecc620: Pulling fs layer\n\
             b2c3d4e5f6a7: Pulling fs layer\n\
             b2c3d4e5f6a7: Already exists\n\
             a307d6ecc620: Downloading\n\
             a307d6ecc620: Verifying Checksum\n\
             a307d6ecc620: Extracting\n\
             a307d6ecc620: Pull complete\n\
             Digest: sha256:manifest\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }

    #[test]
    fn an_image_whose_layers_all_exist_is_up_to_date() {
        let mut progress = PullProgress::lines(Vec::new(), "127.0.0.1:5000/team/app:1");
        let events = [
            PullEvent::Resolved {
                reference: "127.0.0.1:5000/team/app:1".into(),
                digest: "sha256:m".into(),
                layers: vec![PullLayer {
                    digest: LAYER_A.into(),
                    size: 1,
                }],
            },
            PullEvent::Exists {
                layer: LAYER_A.into(),
            },
            PullEvent::Done {
                reference: "127.0.0.1:5000/team/app:1".into(),
                id: "sha256:i".into(),
                digest: "sha256:m".into(),
            },
        ];
        for event in &events {
            progress.show(event).unwrap();
        }
        let text = String::from_utf8(progress.out).unwrap();
        assert!(text.starts_with("1: Pulling from team/app\n"), "{text}");
        assert!(
            text.ends_with("Status: Image is up to date for 127.0.0.1:5000/team/app:1\n"),
            "{text}"
        );
    }

    #[test]
    fn bars_look_like_dockers() {
        assert_eq!(bar(0, 100, 10), "[>         ]");
        assert_eq!(bar(50, 100, 10), "[=====>    ]");
        assert_eq!(bar(100, 100, 10), "[=========>]");
        assert_eq!(bar(200, 100, 10), "[=========>]");
        let step = LayerStep::Downloading {
            current: 12_300_000,
            total: 40_100_000,
        };
        assert_eq!(step.text(10), "Downloading [===>      ] 12.3MB/40.1MB");
        assert_eq!(step.text(0), "Downloading 12.3MB/40.1MB");
        assert_eq!(bar_width(200), 50);
        assert_eq!(bar_width(80), 32);
        assert_eq!(bar_width(50), 0);
    }

    /// A terminal 100 columns wide that keeps what is on its screen. Like a real one, it wraps
    /// only when a character comes after the last column is full.
    #[derive(Debug, Default, Clone)]
    struct Screen {
        state: Arc<Mutex<ScreenState>>,
    }

    #[derive(Debug, Default)]
    struct ScreenState {
        lines: Vec<Vec<char>>,
        row: usize,
        column: usize,
        pending_wrap: bool,
    }

    const COLUMNS: usize = 100;

    impl Screen {
        fn lines(&self) -> Vec<String> {
            let state = self.state.lock().unwrap();
            state
                .lines
                .iter()
                .map(|line| line.iter().collect::<String>().trim_end().to_string())
                .filter(|line| !line.is_empty())
                .collect()
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            COLUMNS as u16
        }
        fn height(&self) -> u16 {
            40
        }
        fn move_cursor_up(&self, n: usize) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            state.row = state.row.saturating_sub(n);
            state.pending_wrap = false;
            Ok(())
        }
        fn move_cursor_down(&self, n: usize) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            state.row += n;
            state.pending_wrap = false;
            Ok(())
        }
        fn move_cursor_right(&self, n: usize) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            state.column = (state.column + n).min(COLUMNS - 1);
            state.pending_wrap = false;
            Ok(())
        }
        fn move_cursor_left(&self, n: usize) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            state.column = state.column.saturating_sub(n);
            state.pending_wrap = false;
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(s)?;
            self.write_str("\n")
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            for c in s.chars() {
                match c {
                    '\r' => (state.column, state.pending_wrap) = (0, false),
                    '\n' => {
                        state.row += 1;
                        (state.column, state.pending_wrap) = (0, false);
                    }
                    c => {
                        if state.pending_wrap {
                            state.row += 1;
                            (state.column, state.pending_wrap) = (0, false);
                        }
                        let (row, column) = (state.row, state.column);
                        while state.lines.len() <= row {
                            state.lines.push(Vec::new());
                        }
                        let line = &mut state.lines[row];
                        line.resize(line.len().max(column + 1), ' ');
                        line[column] = c;
                        if column + 1 == COLUMNS {
                            state.pending_wrap = true;
                        } else {
                            state.column += 1;
                        }
                    }
                }
            }
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            let mut state = self.state.lock().unwrap();
            let row = state.row;
            if let Some(line) = state.lines.get_mut(row) {
                line.clear();
            }
            (state.column, state.pending_wrap) = (0, false);
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn on_a_terminal_each_layer_keeps_one_line() {
        let screen = Screen::default();
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let mut progress = PullProgress::bars(Vec::new(), target, COLUMNS, "busybox");
        for event in events() {
            progress.show(&event).unwrap();
        }
        assert_eq!(
            screen.lines(),
            [
                "a307d6ecc620: Pull complete",
                "b2c3d4e5f6a7: Already exists"
            ]
        );
        let text = String::from_utf8(progress.out).unwrap();
        assert_eq!(
            text,
            "Using default tag: latest\n\
             latest: Pulling from library/busybox\n\
             Digest: sha256:manifest\n\
             Status: Downloaded newer image for busybox:latest\n"
        );
    }
}
