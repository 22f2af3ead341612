//! A progress bar on stderr for long work; nothing when stderr is not a terminal.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipeline::ingest::Progress;

/// Draws `progress` until the returned guard is dropped.
pub struct Bar {
    stop: Arc<std::sync::atomic::AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// `unit` names what `files_total` counts (`files`, `sources`).
pub fn ingest_bar(progress: Progress, unit: &'static str) -> Bar {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if bar.is_hidden() {
        return Bar { stop, task: None };
    }
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:30.cyan/blue}} {{pos}}/{{len}} {unit}  {{msg}}  [{{elapsed_precise}}]"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let stop2 = stop.clone();
    let task = tokio::spawn(async move {
        let started = Instant::now();
        loop {
            let events = progress.events.load(Ordering::Relaxed);
            let bytes = progress.bytes.load(Ordering::Relaxed);
            let secs = started.elapsed().as_secs_f64().max(0.001);
            bar.set_length(progress.files_total.load(Ordering::Relaxed));
            bar.set_position(progress.files_done.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{events} events  {}  {:.0} events/s",
                HumanBytes(bytes),
                events as f64 / secs
            ));
            if stop2.load(Ordering::Relaxed) {
                bar.finish_and_clear();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Bar {
        stop,
        task: Some(task),
    }
}

impl Bar {
    pub async fn finish(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}
