import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// SIGINT and SIGTERM as a flag the training loop polls between steps, so an interrupted run can
/// save a checkpoint and exit cleanly instead of dying mid-write. A second signal exits at once.
public enum Interrupt {
  private static let flag = Atomic<Int32>(0)

  /// The signal received (SIGINT or SIGTERM), or 0.
  public static var signal: Int32 { flag.load(ordering: .acquiring) }
  public static var requested: Bool { signal != 0 }

  /// Installs the handlers (idempotent).
  public static func install() {
    let handler: @convention(c) (Int32) -> Void = { sig in
      // Async-signal-safe: an atomic exchange, and _exit on the second signal.
      if Interrupt.flag.exchange(sig, ordering: .acquiringAndReleasing) != 0 { _exit(128 + sig) }
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

  /// Clears the flag (tests).
  public static func reset() { flag.store(0, ordering: .releasing) }

  /// Sets the flag as a signal would (tests).
  public static func simulate(_ sig: Int32 = SIGINT) { flag.store(sig, ordering: .releasing) }
}
