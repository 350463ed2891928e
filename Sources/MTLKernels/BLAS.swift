// Thin wrappers over OpenBLAS (cblas integer arguments are Int32).
import COpenBLAS

public enum BLAS {
  /// Sets the number of OpenBLAS worker threads (`openblas_set_num_threads`). The runtime calls
  /// `setThreads(1)` by default: the batch shapes of recommender models are too small to profit.
  public static func setThreads(_ n: Int) {
    openblas_set_num_threads(Int32(clamping: max(1, n)))
  }

  /// The current number of OpenBLAS worker threads.
  public static var threads: Int { Int(openblas_get_num_threads()) }

  /// c[M,N] = alpha · op(a) · op(b) + beta · c, all row-major.
  /// op(a) is [M,K] (stored [K,M] when `transA`); op(b) is [K,N] (stored [N,K] when `transB`).
  /// With beta = 0, `c` is not read (it may hold garbage). Empty shapes are handled here, because
  /// cblas rejects leading dimensions of 0.
  public static func gemm(
    transA: Bool, transB: Bool, M: Int, N: Int, K: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard M > 0, N > 0 else { return }
    guard K > 0 else {
      // c = beta · c
      for i in 0..<M {
        let row = c + i * ldc
        for j in 0..<N { row[j] = beta == 0 ? 0 : beta * row[j] }
      }
      return
    }
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(M), Int32(N), Int32(K), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}
