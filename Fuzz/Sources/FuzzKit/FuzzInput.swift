/// The bytes libFuzzer hands a target, read as the frames of one message or as a stream of small choices.
///
/// Frames: each is a little-endian `UInt16` length and that many bytes; a length that runs past the end takes
/// what is left, so every input splits into frames and a mutation of a length only moves a boundary.
/// `Fuzz/corpus.py` writes seed messages this way and prints an input's frames back.
public struct FuzzInput {
    /// The bytes.
    public let bytes: [UInt8]
    /// Where the next choice is read.
    public private(set) var offset = 0

    /// Most frames one input splits into: a `results` message of 256 results has 513.
    public static let maxFrames = 600

    /// Wraps the buffer libFuzzer passes to `LLVMFuzzerTestOneInput`.
    public init(_ data: UnsafePointer<UInt8>?, count: Int) {
        if let data, count > 0 {
            bytes = Array(UnsafeBufferPointer(start: data, count: count))
        } else {
            bytes = []
        }
    }

    /// The bytes as the frames of one message (none for no bytes).
    public var frames: [[UInt8]] {
        var frames: [[UInt8]] = []
        var i = 0
        while i < bytes.count, frames.count < Self.maxFrames {
            guard i + 2 <= bytes.count else {
                frames.append(Array(bytes[i...]))
                break
            }
            let length = Int(bytes[i]) | Int(bytes[i + 1]) << 8
            let end = min(bytes.count, i + 2 + length)
            frames.append(Array(bytes[(i + 2)..<end]))
            i = end
        }
        return frames
    }

    /// Whether every choice has been read.
    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next byte; zero once the input is used up.
    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A number in `range`, from the next byte.
    public mutating func pick(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(byte()) % (range.upperBound - range.lowerBound + 1)
    }

    /// One of `choices`, from the next byte.
    public mutating func pick<Element>(_ choices: [Element]) -> Element {
        choices[pick(0...(choices.count - 1))]
    }

    /// A coin toss, from the next byte.
    public mutating func bool() -> Bool { byte() & 1 == 1 }
}
