/// The version of mtlc: what `mtlc --version` prints and the run report shows.
public enum MTLVersion {
  public static let string = "0.1.0"
}
