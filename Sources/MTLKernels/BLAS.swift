// Thin wrappers over OpenBLAS (cblas integer arguments are Int32).
import COpenBLAS

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
