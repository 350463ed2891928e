import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A fixed set of threads that run one task at a time: `run(task)` calls `handler(task, t)` with
/// t = 0 on the caller's thread and t = 1..<count on the pool's threads, and returns when all are
/// done. Which rows each thread owns is fixed by the caller, so results do not depend on timing.
/// The handler is set once, so running a task allocates nothing.
///
/// Hand-written over pthreads rather than Dispatch: a training step is well under a millisecond for
/// the small models and runs 3 tasks, so handing work over must take microseconds. Threads spin
/// briefly on an atomic generation counter, yielding the core every 64 polls (so on a busy machine
/// the threads with work to do get it), then sleep on a condition variable (so an idle pool costs
/// nothing).
final class WorkerPool: @unchecked Sendable {
  let count: Int
  /// What a task does on thread t: `handler(task, t)`. Set once, before the first `run`.
  var handler: (Int, Int) -> Void = { _, _ in }

  private var threads: [pthread_t] = []
  private var mutex = pthread_mutex_t()
  private var wake = pthread_cond_t()
  private var done = pthread_cond_t()
  /// Bumped (release) for every task; a worker runs each generation once.
  private let generation = Atomic<UInt64>(0)
  private let pending = Atomic<Int>(0)
  private let stopping = Atomic<Bool>(false)
  /// Written before `generation` is bumped, read after it is seen.
  private var task = 0
  /// About 20–50 µs of polling before sleeping.
  private let spins = 20_000

  init(count: Int) {
    precondition(count >= 1)
    self.count = count
    pthread_mutex_init(&mutex, nil)
    pthread_cond_init(&wake, nil)
    pthread_cond_init(&done, nil)
    for t in 1..<count {
      let box = Unmanaged.passRetained(Start(pool: self, index: t)).toOpaque()
      var tid = pthread_t()
      let rc = pthread_create(
        &tid, nil,
        { arg in
          let start = Unmanaged<Start>.fromOpaque(arg!).takeRetainedValue()
          start.pool.loop(start.index)
          return nil
        }, box)
      precondition(rc == 0, "cannot start a worker thread (error \(rc))")
      threads.append(tid)
    }
  }

  private final class Start {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
      self.pool = pool
      self.index = index
    }
  }

  deinit {
    pthread_mutex_lock(&mutex)
    stopping.store(true, ordering: .releasing)
    generation.add(1, ordering: .releasing)
    pthread_cond_broadcast(&wake)
    pthread_mutex_unlock(&mutex)
    for t in threads { pthread_join(t, nil) }
    pthread_cond_destroy(&wake)
    pthread_cond_destroy(&done)
    pthread_mutex_destroy(&mutex)
  }

  private func loop(_ index: Int) {
    var seen: UInt64 = 0
    while true {
      var n = 0
      while generation.load(ordering: .acquiring) == seen && n < spins {
        n += 1
        // On a busy machine a spinning thread would hold a core another thread of this pool (or
        // another process) needs: let the scheduler run them.
        if n & 63 == 0 { sched_yield() }
      }
      if generation.load(ordering: .acquiring) == seen {
        pthread_mutex_lock(&mutex)
        while generation.load(ordering: .acquiring) == seen { pthread_cond_wait(&wake, &mutex) }
        pthread_mutex_unlock(&mutex)
      }
      seen = generation.load(ordering: .acquiring)
      if stopping.load(ordering: .acquiring) { return }
      handler(task, index)
      if pending.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
        pthread_mutex_lock(&mutex)
        pthread_cond_signal(&done)
        pthread_mutex_unlock(&mutex)
      }
    }
  }

  /// Runs `handler(task, t)` for every t in 0..<count, t = 0 on this thread; returns when all have
  /// finished.
  func run(_ task: Int) {
    guard count > 1 else {
      handler(task, 0)
      return
    }
    self.task = task
    pending.store(count - 1, ordering: .relaxed)
    pthread_mutex_lock(&mutex)
    generation.add(1, ordering: .releasing)
    pthread_cond_broadcast(&wake)
    pthread_mutex_unlock(&mutex)
    handler(task, 0)
    var n = 0
    while pending.load(ordering: .acquiring) != 0 && n < spins {
      n += 1
      if n & 63 == 0 { sched_yield() }
    }
    if pending.load(ordering: .acquiring) != 0 {
      pthread_mutex_lock(&mutex)
      while pending.load(ordering: .acquiring) != 0 { pthread_cond_wait(&done, &mutex) }
      pthread_mutex_unlock(&mutex)
    }
  }
}
