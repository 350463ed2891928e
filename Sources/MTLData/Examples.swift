// What training, evaluation and prediction read: encoded examples by index, wherever they live.

/// A set of encoded examples: `Dataset` in memory, `ShardStore` in shards on disk. Training reads
/// batches through `gather`, in the order `EpochOrder` gives; evaluation reads them in order.
public protocol Examples: AnyObject {
  var count: Int { get }
  /// Id columns, dense values and labels per example.
  var sparseWidth: Int { get }
  var denseWidth: Int { get }
  var labelWidth: Int { get }
  /// Copies examples `indices` into batch buffers of [B, S], [B, D] and [B, L] elements.
  func gather(
    indices: ArraySlice<Int>, into sparseOut: UnsafeMutablePointer<Int32>, dense denseOut: UnsafeMutablePointer<Float>,
    labels labelsOut: UnsafeMutablePointer<Float>)
  /// Label `j` of every example, in order. [N]
  func labelColumn(_ j: Int) -> [Float]
  /// Per label: examples whose class is not one of the task's classes (not scored). [L]
  var unseenClassCounts: [Int] { get }
  /// Why examples could not be read (a shard damaged since the set was opened); nil in memory.
  var failure: ShardError? { get }
}

/// A `Dataset` as `Examples` (a reference, so a set is not copied when handed around).
public final class MemoryExamples: Examples {
  public let data: Dataset
  public init(_ data: Dataset) { self.data = data }
  public var count: Int { data.count }
  public var sparseWidth: Int { data.sparseWidth }
  public var denseWidth: Int { data.denseWidth }
  public var labelWidth: Int { data.labelWidth }
  public func gather(
    indices: ArraySlice<Int>, into sparseOut: UnsafeMutablePointer<Int32>, dense denseOut: UnsafeMutablePointer<Float>,
    labels labelsOut: UnsafeMutablePointer<Float>
  ) {
    data.gather(indices: indices, into: sparseOut, dense: denseOut, labels: labelsOut)
  }
  public func labelColumn(_ j: Int) -> [Float] { data.labelColumn(j) }
  public var failure: ShardError? { nil }
  public var unseenClassCounts: [Int] { data.unseenClassCounts }
}
