import Foundation
import Testing
import ZeroMQ

@testable import FlowPool

@Suite("Allow-lists, namespace patterns and the subscription ledger")
struct AllowListTests {
    @Test func namespacePatternsCoverOnlyTheirTopics() throws {
        let support = try NamespacePattern("support")
        #expect(support.matches("support") && !support.matches("support2") && !support.matches("supp"))
        #expect(support.covers(topicPrefix: Array("support/".utf8)))
        #expect(support.covers(topicPrefix: Array("support/run-1/chunk".utf8)))
        #expect(!support.covers(topicPrefix: Array("support".utf8)), "would select support2/… too")
        #expect(!support.covers(topicPrefix: Array("supp".utf8)))
        #expect(!support.covers(topicPrefix: []))
        let sales = try NamespacePattern("sales_*")
        #expect(sales.matches("sales_east") && !sales.matches("sales"))
        #expect(sales.covers(topicPrefix: Array("sales_".utf8)) && sales.covers(topicPrefix: Array("sales_e".utf8)))
        #expect(!sales.covers(topicPrefix: Array("sales".utf8)))
        let all = try NamespacePattern("*")
        #expect(all.matches("anything") && all.covers(topicPrefix: []))
        for bad in ["", "a/b", "a*b", "**", "a b", "sales,x"] {
            #expect(throws: AccessError.self, "\(bad)") { try NamespacePattern(bad) }
        }
        #expect(try NamespacePattern.list("support,sales_*").map(\.description) == ["support", "sales_*"])
    }

    @Test func allowListLinesParseAndTheirErrorsNameTheLine() throws {
        let a = try CurveKeyPair.generate().publicKey
        let b = try CurveKeyPair.generate().publicKey
        let list = try AllowList(
            parsing: "# comment\n\nalice client \(a) support,sales_*\n  w1\tworker \(b)\n",
            source: "allow.list"
        )
        #expect(list.entries.map(\.name) == ["alice", "w1"])
        #expect(list.entry(forKey: a)?.role == .client)
        #expect(list.entry(forKey: a)?.allows(namespace: "sales_x") == true)
        #expect(list.entry(forKey: b)?.namespaces.isEmpty == true)
        #expect(try AllowList(parsing: list.entries.map(\.line).joined(separator: "\n")) == list)
        let cases: [(String, String)] = [
            ("alice admin \(a) *", "unknown role"),
            ("alice client \(a)", "needs namespaces"),
            ("w1 worker \(b) support", "takes no namespaces"),
            ("alice client short *", "not 40 characters"),
            ("alice client \(a) *\nbob client \(a) *", "already in the list"),
            ("alice client \(a) *\nalice client \(b) *", "already in the list"),
            ("al/ice client \(a) *", "name"),
            ("alice client", "expected NAME ROLE PUBLIC-KEY"),
        ]
        for (text, expected) in cases {
            do {
                _ = try AllowList(parsing: text, source: "allow.list")
                Issue.record("accepted: \(text)")
            } catch {
                #expect(error.message.contains(expected), "\(error.message)")
                #expect(error.message.hasPrefix("allow.list line"), "\(error.message)")
            }
        }
    }

    @Test func certificateFilesRoundTripInThePyzmqFormat() throws {
        let keys = try CurveKeyPair.generate()
        let file = CertificateFile(publicKey: keys.publicKey, secretKey: keys.secretKey, metadata: ["role": "client"])
        let secret = try CertificateFile(parsing: file.text(includeSecret: true), source: "s")
        #expect(secret.keyPair == keys && secret.metadata["role"] == "client")
        let pub = try CertificateFile(parsing: file.text(includeSecret: false), source: "p")
        #expect(pub.publicKey == keys.publicKey && pub.secretKey == nil)
        #expect(!file.text(includeSecret: false).contains(keys.secretKey))
        #expect(throws: AccessError.self) { try CertificateFile(parsing: "hello\n", source: "x") }
        let other = try CurveKeyPair.generate()
        let mismatched = "curve\n    public-key = \"\(other.publicKey)\"\n    secret-key = \"\(keys.secretKey)\"\n"
        #expect(throws: AccessError.self) { try CertificateFile(parsing: mismatched, source: "x") }
    }

    @Test func ledgerReportsFirstAndLastHolderPerPrefix() {
        var ledger = SubscriptionLedger(connectionLimit: 3)
        let p = Array("support/".utf8)
        #expect(ledger.subscribe(p, connection: "a") == .first)
        #expect(ledger.subscribe(p, connection: "a") == .none, "a repeat of the same connection")
        #expect(ledger.subscribe(p, connection: "b") == .none)
        #expect(ledger.unsubscribe(p, connection: "c") == .none, "c never held it")
        #expect(ledger.unsubscribe(p, connection: "a") == .none)
        #expect(ledger.unsubscribe(p, connection: "a") == .none, "a no longer holds it")
        #expect(ledger.holders(of: p) == 1)
        // b's connection closes: libzmq lists its prefixes without a User-Id.
        #expect(ledger.unsubscribe(p, connection: nil) == .last)
        #expect(ledger.holders(of: p) == 0)
        ledger.refuse(Array("billing/".utf8), connection: "b")
        _ = ledger.subscribe(Array("billing/".utf8), connection: "b")
        ledger.refuse(Array("billing/".utf8), connection: "b")
        #expect(ledger.refused(connection: "b") == [Array("billing/".utf8)])
        for c in ["d", "e", "f", "g"] { _ = ledger.subscribe(Array("x/".utf8), connection: c) }
        #expect(ledger.connections <= 3, "the oldest connections are forgotten beyond the bound")
    }
}
