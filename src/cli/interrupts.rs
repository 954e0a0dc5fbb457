//! Ctrl-C for a bulk run: the first stops the intake; the second ends the process at once.

use tokio::sync::oneshot;

/// Ctrl-C: the first is handed to the run; the second ends the process at once.
#[cfg(unix)]
struct Interrupts(tokio::signal::unix::Signal);

#[cfg(unix)]
impl Interrupts {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::interrupt()).map(Self)
    }

    async fn next(&mut self) -> bool {
        self.0.recv().await.is_some()
    }
}

#[cfg(not(unix))]
struct Interrupts;

#[cfg(not(unix))]
impl Interrupts {
    fn new() -> std::io::Result<Self> {
        Ok(Self)
    }

    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Listens for Ctrl-C from now on: the receiver hears the first; the second ends the process
/// through [`crate::stop_at_once`].
pub(super) fn listen_for_interrupts() -> Result<oneshot::Receiver<()>, String> {
    // Registered here, not in the task, so that no Ctrl-C from now on is missed.
    // The task runs on a thread and runtime of its own, so that the second Ctrl-C ends the
    // process even while the caller's thread is held up (writing to a pipe nobody reads, say).
    let cannot = |e: std::io::Error| format!("cannot listen for Ctrl-C: {e}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(cannot)?;
    let mut interrupts = {
        let _runtime = runtime.enter();
        Interrupts::new().map_err(cannot)?
    };
    let (first, receiver) = oneshot::channel();
    let listen = async move {
        if !interrupts.next().await {
            return;
        }
        let _ = first.send(());
        if interrupts.next().await {
            crate::stop_at_once();
        }
    };
    std::thread::Builder::new()
        .name("plain-interrupts".to_owned())
        .spawn(move || runtime.block_on(listen))
        .map_err(cannot)?;
    Ok(receiver)
}
