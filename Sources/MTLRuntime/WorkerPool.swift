#if canImport(Glibc)
  import Glibc
#endif

/// A fixed set of threads that run one task at a time: `run(task)` calls `handler(task, t)` with
/// t = 0 on the caller's thread and t = 1..<count on the pool's threads, and returns when all are
/// done. Which rows each thread owns is fixed by the caller, so results do not depend on timing.
/// The handler is set once, so running a task allocates nothing.
///
/// Hand-written over pthreads rather than Dispatch: a training step is ~1 ms, and the pool must
/// hand the same thread the same share every step with a few microseconds of overhead; waiting
/// threads spin briefly before sleeping on a condition variable.
final class WorkerPool: @unchecked Sendable {
  let count: Int
  private var threads: [pthread_t] = []
  private var mutex = pthread_mutex_t()
  private var wake = pthread_cond_t()
  private var done = pthread_cond_t()
  /// Bumped for every job; a worker runs each generation once.
  private var generation: UInt64 = 0
  private var pending = 0
  private var stopping = false
  private var task = 0
  /// What a task does on thread t: `handler(task, t)`. Set once, before the first `run`.
  var handler: (Int, Int) -> Void = { _, _ in }

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
    stopping = true
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
      pthread_mutex_lock(&mutex)
      while generation == seen && !stopping { pthread_cond_wait(&wake, &mutex) }
      if stopping {
        pthread_mutex_unlock(&mutex)
        return
      }
      seen = generation
      let current = task
      pthread_mutex_unlock(&mutex)
      handler(current, index)
      pthread_mutex_lock(&mutex)
      pending -= 1
      if pending == 0 { pthread_cond_signal(&done) }
      pthread_mutex_unlock(&mutex)
    }
  }

  /// Runs `handler(task, t)` for every t in 0..<count, t = 0 on this thread; returns when all have
  /// finished.
  func run(_ task: Int) {
    guard count > 1 else {
      handler(task, 0)
      return
    }
    pthread_mutex_lock(&mutex)
    self.task = task
    pending = count - 1
    generation &+= 1
    pthread_cond_broadcast(&wake)
    pthread_mutex_unlock(&mutex)
    handler(task, 0)
    pthread_mutex_lock(&mutex)
    while pending > 0 { pthread_cond_wait(&done, &mutex) }
    pthread_mutex_unlock(&mutex)
  }
}
