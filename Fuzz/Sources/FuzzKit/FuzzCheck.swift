/// What a fuzz target checks beyond "no crash": each failed check stops the process with a description, which
/// libFuzzer reports as a crash and saves the input of.
public enum FuzzCheck {
    /// Stops the process when `condition` does not hold.
    public static func require(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fatalError(clipped(message())) }
    }

    /// Requires two readings of the same input to give the same value (or both none).
    public static func same<Value: Equatable>(_ first: Value?, _ second: Value?, _ readings: String) {
        require(first == second, "\(readings): \(String(describing: first)) against \(String(describing: second))")
    }

    /// Requires a direct reader's value, when it returned one, to be the value the general reader returns
    /// for the same input (the direct readers' documented promise: nil, or what the general reader reads).
    ///
    /// - Parameters:
    ///   - direct: What the direct reader returned.
    ///   - general: Runs the general reader.
    ///   - reader: The direct reader's name, for the report.
    public static func agree<Value: Equatable>(
        direct: Value?,
        general: () throws -> Value,
        _ reader: String
    ) {
        guard let direct else { return }
        do {
            let value = try general()
            require(value == direct, "\(reader) read \(direct), the general reader \(value)")
        } catch {
            fatalError(clipped("\(reader) read \(direct), the general reader threw \(error)"))
        }
    }

    /// Most characters of a report: values read from a large input are long.
    private static let reportLimit = 2_000

    private static func clipped(_ text: String) -> String {
        text.count <= reportLimit ? text : text.prefix(reportLimit) + "…"
    }
}
