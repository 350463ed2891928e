import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A request to stop training between two steps: set by a signal handler (`Interrupt.process`)
/// or, in tests, by hand on a flag of the test's own, so no test can stop another's run.
public final class StopFlag: Sendable {
  fileprivate let flag = Atomic<Int32>(0)
  public init() {}
  /// The signal that asked to stop (SIGINT or SIGTERM), or 0.
  public var signal: Int32 { flag.load(ordering: .acquiring) }
  public var requested: Bool { signal != 0 }
  /// Asks to stop, as signal `sig` would.
  public func request(_ sig: Int32 = SIGINT) { flag.store(sig, ordering: .releasing) }
}

/// SIGINT and SIGTERM as the process's stop flag, which the training loop polls between steps,
/// so an interrupted run can save a checkpoint and exit cleanly instead of dying mid-write. A
/// second signal exits at once.
public enum Interrupt {
  /// The flag the signal handlers set; a session polls it unless given another.
  public static let process = StopFlag()

  /// Installs the handlers (idempotent).
  public static func install() {
    // Touch the flag first: a static's lazy initialisation is not async-signal-safe.
    _ = process.signal
    let handler: @convention(c) (Int32) -> Void = { sig in
      // Async-signal-safe: an atomic exchange, and _exit on the second signal.
      if Interrupt.process.flag.exchange(sig, ordering: .acquiringAndReleasing) != 0 { _exit(128 + sig) }
    }
    Glibc.signal(SIGINT, handler)
    Glibc.signal(SIGTERM, handler)
    // A parent may have started us with these blocked (some launchers do): unblock them.
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    // Past a file size limit, let write() fail with EFBIG (an error we report, leaving the previous
    // file in place) instead of being killed by SIGXFSZ.
    Glibc.signal(SIGXFSZ, SIG_IGN)
  }
}
