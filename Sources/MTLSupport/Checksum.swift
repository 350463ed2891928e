/// Checksums for file integrity and stable hashing.
///
/// Hand-written: FNV-1a and CRC-32 are a few lines each, and pulling in a crypto package for
/// integrity checks (not security) would cost minutes of build time on every CI run.
public enum Checksum {
  /// FNV-1a, 64 bit: stable string hashing (feature hashing, RNG streams).
  public static func fnv1a64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for b in bytes {
      h ^= UInt64(b)
      h = h &* 0x100_0000_01b3
    }
    return h
  }

  private static let crcTable: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  /// CRC-32 (IEEE 802.3), as used by zip and PNG.
  public static func crc32(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
    var c = ~seed
    crcTable.withUnsafeBufferPointer { t in
      for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    }
    return ~c
  }

  public static func crc32(_ bytes: [UInt8], seed: UInt32 = 0) -> UInt32 {
    bytes.withUnsafeBytes { crc32($0, seed: seed) }
  }
}
