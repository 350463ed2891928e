// Data-parallel training across processes: the one collective it needs, behind a protocol.
//
// N ranks of T threads each train as one process of N·T threads would, bit for bit: rank r runs the
// global workers r·T ..< (r+1)·T on their shares of every batch, and wherever one process adds its
// threads' partial results in thread order (the masked rows counted, batch normalisation's sums,
// the losses, the gradients: see `Executor`), the ranks gather every worker's partial result and
// add them in global worker order. So the arithmetic is the same, and so is every bit. The only
// collective is an all-gather of bytes in rank order; MTLDistributed implements it with Open MPI,
// `ThreadGroup` with threads of one process (tests).

import Foundation

/// A fixed group of ranks that gather bytes.
public protocol Communicator: AnyObject {
  var rank: Int { get }
  var size: Int { get }
  /// Every rank's `bytes`, concatenated in rank order (each rank passes its own; all ranks call it
  /// in the same order).
  func allgather(_ bytes: [UInt8]) -> [UInt8]
  /// Bytes this rank has sent so far (each all-gather moves `size` times its share).
  var bytesSent: Int { get }
}

/// `size` ranks as threads of this process, for tests of the data-parallel arithmetic: each rank's
/// `allgather` waits for all of them.
public final class ThreadGroup: @unchecked Sendable {
  public let size: Int
  let lock = NSCondition()
  var slots: [[UInt8]?]
  var generation = 0
  var arrived = 0
  var result: [UInt8] = []

  public init(size: Int) {
    precondition(size >= 1)
    self.size = size
    slots = Array(repeating: nil, count: size)
  }

  /// The communicator of rank `r`.
  public func member(_ r: Int) -> Communicator { Member(group: self, rank: r) }

  func gather(_ bytes: [UInt8], rank: Int) -> [UInt8] {
    lock.lock()
    defer { lock.unlock() }
    let gen = generation
    slots[rank] = bytes
    arrived += 1
    if arrived == size {
      result = slots.flatMap { $0! }
      slots = Array(repeating: nil, count: size)
      arrived = 0
      generation += 1
      lock.broadcast()
    } else {
      while generation == gen { lock.wait() }
    }
    return result
  }

  final class Member: Communicator {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }
    var bytesSent = 0
    init(group: ThreadGroup, rank: Int) {
      self.group = group
      self.rank = rank
    }
    func allgather(_ bytes: [UInt8]) -> [UInt8] {
      bytesSent += bytes.count
      return group.gather(bytes, rank: rank)
    }
  }
}

extension Communicator {
  /// Every rank's `values` (the same count on each), concatenated in rank order.
  func allgather<T: BitwiseCopyable>(_ values: [T]) -> [T] {
    let bytes = values.withUnsafeBytes { Array($0) }
    let all = allgather(bytes)
    return all.withUnsafeBytes { raw in
      Array(
        UnsafeBufferPointer(
          start: raw.baseAddress?.assumingMemoryBound(to: T.self), count: raw.count / MemoryLayout<T>.stride))
    }
  }

  /// Whether any rank says yes (for a stop that every rank must agree on).
  public func any(_ flag: Bool) -> Bool { allgather([UInt8(flag ? 1 : 0)]).contains(1) }
}
