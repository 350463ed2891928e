/// Checksums for file integrity and stable hashing: the one FNV-1a and the one CRC-32 of mtlc.
///
/// Hand-written: FNV-1a and CRC-32 are a few lines each, and pulling in a crypto package for
/// integrity checks (not security) would cost minutes of build time on every CI run. Both are
/// `@inlinable`, so a caller in another module gets a loop specialised for its buffer type (the
/// data encoder hashes every hashed-feature cell with it).
public enum Checksum {
  /// FNV-1a, 64 bit: stable string hashing (feature hashing, RNG streams, model fingerprints).
  /// Stored in files and in ONNX exports: never change it.
  @inlinable
  public static func fnv1a64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var h = FNV1a64()
    h.add(bytes)
    return h.value
  }

  /// CRC-32 (IEEE 802.3), as used by zip and PNG, eight bytes at a time ("slicing by 8": 4x
  /// faster than a byte at a time on data cache files). `seed` continues an earlier CRC.
  public static func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    var c = ~seed
    let n = bytes.count
    var i = 0
    crcTables.withUnsafeBufferPointer { t in
      let t = t.baseAddress!
      while i + 8 <= n {
        let w = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ UInt64(c)
        c =
          t[1792 + Int(w & 0xFF)] ^ t[1536 + Int((w >> 8) & 0xFF)] ^ t[1280 + Int((w >> 16) & 0xFF)]
          ^ t[1024 + Int((w >> 24) & 0xFF)] ^ t[768 + Int((w >> 32) & 0xFF)]
          ^ t[512 + Int((w >> 40) & 0xFF)] ^ t[256 + Int((w >> 48) & 0xFF)] ^ t[Int(w >> 56)]
        i += 8
      }
      while i < n {
        c = t[Int((c ^ UInt32(bytes[i])) & 0xFF)] ^ (c >> 8)
        i += 1
      }
    }
    return ~c
  }

  public static func crc32(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { crc32($0, seed: seed) }
  }

  public static func crc32(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { crc32($0, seed: seed) }
  }

  /// Table k holds the CRC of byte i followed by k zero bytes.
  private static let crcTables: [UInt32] = {
    var t = [UInt32](repeating: 0, count: 8 * 256)
    for i in 0..<256 {
      var c = UInt32(i)
      for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
      t[i] = c
    }
    for k in 1..<8 {
      for i in 0..<256 {
        let p = t[(k - 1) * 256 + i]
        t[k * 256 + i] = (p >> 8) ^ t[Int(p & 0xFF)]
      }
    }
    return t
  }()
}

/// FNV-1a 64, fed incrementally: `add(a); add(b)` gives `Checksum.fnv1a64(a + b)`.
public struct FNV1a64 {
  public static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
  public static let prime: UInt64 = 0x100_0000_01b3

  /// The hash of everything added so far.
  public var value: UInt64 = FNV1a64.offsetBasis

  @inlinable public init() {}

  @inlinable
  public mutating func add<C: Collection>(_ bytes: C) where C.Element == UInt8 {
    var h = value
    for b in bytes {
      h ^= UInt64(b)
      h = h &* FNV1a64.prime
    }
    value = h
  }

  /// The 8 bytes of `x`, little-endian.
  @inlinable
  public mutating func add(_ x: UInt64) {
    var h = value
    for k in 0..<8 {
      h ^= (x >> (8 * UInt64(k))) & 0xFF
      h = h &* FNV1a64.prime
    }
    value = h
  }
}
