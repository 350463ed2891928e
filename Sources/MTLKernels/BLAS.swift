// Matrix products: LIBXSMM's JIT kernels for the small products of a training step, OpenBLAS for
// the large ones and wherever LIBXSMM has no kernel (cblas integer arguments are Int32).
import COpenBLAS
import CXSMM
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

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
  /// cblas rejects leading dimensions of 0. The library is `library(...)`'s choice unless `using`
  /// names one (the bench and the tests compare them).
  public static func gemm(
    transA: Bool, transB: Bool, M: Int, N: Int, K: Int,
    alpha: Float, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, using forced: GemmLibrary? = nil
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
    // LIBXSMM's kernels take alpha 1 and beta 0 or 1 only, forced or not.
    let library =
      alpha == 1 && (beta == 0 || beta == 1)
      ? forced ?? self.library(M: M, N: N, K: K, alpha: alpha, beta: beta) : .openblas
    if library == .libxsmm,
      mtlc_xsmm_gemm(
        transA ? 1 : 0, transB ? 1 : 0, Int32(M), Int32(N), Int32(K), a, Int32(lda), b, Int32(ldb), beta == 0 ? 1 : 0,
        c, Int32(ldc)) == 1
    {
      return
    }
    cblas_sgemm(
      CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
      Int32(M), Int32(N), Int32(K), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }
}

// MARK: - Which library computes a product
//
// Measured on a 2-core Xeon (family 6 model 207, AVX-512; LIBXSMM target `cpx`, OpenBLAS Cooperlake,
// one thread, `mtlc-bench` prints the same table for its machine): LIBXSMM 150-175 GFLOP/s on every
// product of up to 384³ (and on skinny ones such as 2048x128x128) against OpenBLAS's 92-148; from
// 512³ on OpenBLAS wins (154 vs 131), its blocking for caches paying off once B outgrows L2. So the
// rule is by size, fixed, and therefore deterministic for a machine and shape: LIBXSMM for products
// of at most `smallProductLimit` multiply-adds when it can generate the kernel (alpha 1, beta 0 or 1),
// OpenBLAS otherwise. `MTLC_GEMM=openblas` (or `libxsmm`) in the environment forces one library.

/// The library that computes a matrix product.
public enum GemmLibrary: String, Sendable, CaseIterable {
  case libxsmm = "LIBXSMM"
  case openblas = "OpenBLAS"
}

extension BLAS {
  /// Products of up to this many multiply-adds (M·N·K) go to LIBXSMM: 2^26, about 406³.
  public static let smallProductLimit = 1 << 26

  /// What the environment asked for (`MTLC_GEMM`), read once: nil = by size.
  static let requested: GemmLibrary? = {
    switch ProcessInfo.processInfo.environment["MTLC_GEMM"]?.lowercased() {
    case "openblas": return .openblas
    case "libxsmm": return .libxsmm
    default: return nil
    }
  }()

  /// Whether LIBXSMM is built in and its JIT serves this CPU (checked once).
  public static let xsmmAvailable: Bool = mtlc_xsmm_available() == 1

  /// LIBXSMM's code-generation target for this CPU (`hsw`, `skx`, `cpx`, `spr`, ...), or `none`.
  public static var xsmmTarget: String { String(cString: mtlc_xsmm_target()) }

  /// The library `gemm` uses for a product of this shape and these scalars.
  public static func library(M: Int, N: Int, K: Int, alpha: Float = 1, beta: Float = 0) -> GemmLibrary {
    guard xsmmAvailable, alpha == 1, beta == 0 || beta == 1 else { return .openblas }
    if let requested { return requested }
    return Double(M) * Double(N) * Double(K) <= Double(smallProductLimit) ? .libxsmm : .openblas
  }

  /// One line for `mtlc run -v` and the bench: the libraries and the instructions they run.
  public static var summary: String {
    let openblas = "OpenBLAS (\(coreName) kernels)"
    guard xsmmAvailable else { return "matrix products: \(openblas); LIBXSMM not available" }
    switch requested {
    case .openblas?: return "matrix products: \(openblas), forced by MTLC_GEMM"
    case .libxsmm?: return "matrix products: LIBXSMM JIT (target \(xsmmTarget)), forced by MTLC_GEMM"
    case nil:
      return "matrix products: LIBXSMM JIT (target \(xsmmTarget)) up to 2^26 multiply-adds, \(openblas) above"
    }
  }
}

// MARK: - OpenBLAS's core on this CPU
//
// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise recent Xeons (Sapphire and Emerald
// Rapids): it falls back to its generic `Prescott` kernels, 3-5x slower on mtlc's products than the
// SkylakeX/Cooperlake ones the CPU runs fine (measured: PLE 18.6k against 56-59k samples/s on a
// 2-core Xeon, family 6 model 207). The library reads `OPENBLAS_CORETYPE` once, when it is loaded,
// so the choice is made before that: `mtlc` and `mtlc-bench` call `BLAS.reexecOnPreferredCore` at
// start-up, which re-executes the process with the variable set when `coreTypeToRequest` names a core. A variable the user
// set is never overridden, and a core the library recognised by itself is kept.

extension BLAS {
  /// The core OpenBLAS runs on (`openblas_get_corename`), e.g. `SkylakeX`, `Haswell`, `Prescott`.
  public static var coreName: String { String(cString: openblas_get_corename()) }

  /// OpenBLAS's generic x86-64 fallback cores: kernels without AVX.
  static let genericCores: Set<String> = ["Prescott", "Core2", "Katmai", "Coppermine", "Northwood", "Banias"]

  /// The `OPENBLAS_CORETYPE` to run with on this machine, or nil to leave OpenBLAS as it is: only
  /// when the variable is unset, the library fell back to a generic core, and the CPU's flags
  /// (`/proc/cpuinfo`) show AVX-512 (`COOPERLAKE` with bf16, else `SKYLAKEX`) or AVX2 with FMA
  /// (`HASWELL`). Deterministic for a machine.
  /// `cpuFlags` is read only when the rest leaves a choice to make.
  public static func coreTypeToRequest(
    environment: [String: String], coreName: String, cpuFlags: () -> Set<String>?
  ) -> String? {
    guard environment["OPENBLAS_CORETYPE"] == nil, genericCores.contains(coreName), let flags = cpuFlags() else {
      return nil
    }
    if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) {
      return flags.contains("avx512_bf16") ? "COOPERLAKE" : "SKYLAKEX"
    }
    if flags.isSuperset(of: ["avx2", "fma"]) { return "HASWELL" }
    return nil
  }

  /// For an executable's start-up, before anything else: when `coreTypeToRequest` names a core for
  /// this process, runs the executable again with `OPENBLAS_CORETYPE` set (the library reads it only
  /// when loaded). Returns when there is nothing to change, or when the exec failed (the library then
  /// stays as it is).
  public static func reexecOnPreferredCore(environment: [String: String]) {
    guard let core = coreTypeToRequest(environment: environment, coreName: coreName, cpuFlags: { cpuFlags() })
    else { return }
    setenv("OPENBLAS_CORETYPE", core, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
  }

  /// This CPU's feature flags from `/proc/cpuinfo` (Linux; nil elsewhere or when unreadable).
  public static func cpuFlags(cpuinfo path: String = "/proc/cpuinfo") -> Set<String>? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>? = nil
    var cap = 0
    defer { free(line) }
    while getline(&line, &cap, f) > 0 {
      let text = String(cString: line!)
      guard text.hasPrefix("flags"), let colon = text.firstIndex(of: ":") else { continue }
      return Set(text[text.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }
    return nil
  }
}
