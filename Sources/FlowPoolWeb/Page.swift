import FlowCore
import FlowPool
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTML shell of each page (`app.js` draws the page into it) and the responses the server sends.
enum Page {
    enum Kind {
        case overview
        case namespace(String)
        case run(String, String)
    }

    static func html(_ kind: Kind) -> Response {
        let (page, namespace, run, title): (String, String?, String?, String)
        switch kind {
        case .overview: (page, namespace, run, title) = ("overview", nil, nil, "FlowPool")
        case .namespace(let ns): (page, namespace, run, title) = ("namespace", ns, nil, "\(ns) · FlowPool")
        case .run(let ns, let id): (page, namespace, run, title) = ("run", ns, id, "\(id) · \(ns) · FlowPool")
        }
        var attributes = "data-page=\"\(page)\""
        if let namespace { attributes += " data-ns=\"\(escape(namespace))\"" }
        if let run { attributes += " data-run=\"\(escape(run))\"" }
        let text = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width,initial-scale=1">
            <title>\(escape(title))</title><link rel="icon" href="data:,"><link rel="stylesheet" href="/assets/app.css"></head>
            <body \(attributes)>
            <header><nav><a href="/" class="brand">FlowPool</a>
            <input id="ns-jump" placeholder="open a namespace…" aria-label="Open a namespace" autocomplete="off">
            </nav></header>
            <main id="app"></main>
            <script src="/assets/app.js"></script>
            </body></html>

            """
        return response(Array(text.utf8), type: "text/html; charset=utf-8")
    }

    static func asset(_ bytes: [UInt8], type: String) -> Response {
        response(bytes, type: type)
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.wireBytes))
        )
    }

    private static func response(_ bytes: [UInt8], type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        // Only this server's own scripts and styles; no page elsewhere may frame these.
        headers[.contentSecurityPolicy] =
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
        headers[.xContentTypeOptions] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Text for an HTML attribute or element.
    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }
}

/// The page's script and style sheet, compiled into the binary.
enum Assets {
    static let appJS: [UInt8] = PackageResources.app_js
    static let appCSS: [UInt8] = PackageResources.app_css
}
