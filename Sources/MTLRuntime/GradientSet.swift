/// A step's gradients as the reducer sees them: everything a replica needs to apply the same
/// update as every other. Built once from the executor's buffers (a step allocates nothing); its
/// contents change each step.
///
/// - `dense`: every dense parameter's summed gradient, whole.
/// - `embeddings`: each embedding table's gradient buffer and the rows of it the step touched
///   (the rest of the buffer is stale: only those rows are gradients). A data-parallel reducer
///   must combine the union of the replicas' rows, so that every replica updates the same rows.
/// - `lossSums`: each loss's value on this replica's rows (mean over the batch times the share of
///   the batch the replica holds), so that the reported loss and a balancer that reads losses see
///   the whole batch.
public struct GradientSet {
  public struct Dense {
    public let param: Int
    public let gradient: UnsafeMutablePointer<Float>
    public let count: Int
  }
  public struct Embedding {
    public let param: Int
    public let gradient: UnsafeMutablePointer<Float>
    /// Floats per row.
    public let width: Int
    public let rows: RowSet
  }
  public let dense: [Dense]
  public let embeddings: [Embedding]
  public let lossSums: UnsafeMutableBufferPointer<Double>
}

/// Where gradients meet across processes in data-parallel training, between the gradient stage
/// and the optimiser. The single-process runtime passes none; an MPI backend implements it with
/// collectives over `GradientSet` in a fixed order, so runs stay reproducible.
public protocol GradientReducer {
  func reduce(_ gradients: GradientSet)
}
