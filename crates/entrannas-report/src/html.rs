//! HTML helpers: escaping, inlining SVG documents, and checks that a page is
//! well-formed and self-contained (used by the tests, and usable by anyone who wants
//! to check a generated page).

/// Escapes `text` for HTML/SVG text content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Turns a standalone SVG document into an element to inline in an HTML page: drops the
/// XML prolog, comments before the root and any `<!DOCTYPE>`, and prefixes every `id`
/// (and the `url(#..)` / `href="#.."` references to it) with `prefix-`, so that several
/// diagrams on one page do not share marker ids (a marker referenced from another,
/// hidden diagram is not drawn).
pub fn inline_svg(svg: &str, prefix: &str) -> String {
    let mut rest = svg.trim_start();
    loop {
        let end = if rest.starts_with("<?") {
            rest.find("?>").map(|i| i + 2)
        } else if rest.starts_with("<!--") {
            rest.find("-->").map(|i| i + 3)
        } else if rest.starts_with("<!") {
            rest.find('>').map(|i| i + 1)
        } else {
            None
        };
        match end {
            Some(end) => rest = rest[end..].trim_start(),
            None => break,
        }
    }
    let mut ids = Vec::new();
    let mut search = rest;
    while let Some(at) = search.find(" id=\"") {
        let start = at + 5;
        let Some(len) = search[start..].find('"') else {
            break;
        };
        let id = &search[start..start + len];
        if !id.is_empty() && !ids.contains(&id) {
            ids.push(id);
        }
        search = &search[start + len..];
    }
    let mut out = rest.to_string();
    for id in ids {
        let new = format!("{prefix}-{id}");
        for (from, to) in [
            (format!(" id=\"{id}\""), format!(" id=\"{new}\"")),
            (format!("url(#{id})"), format!("url(#{new})")),
            (format!("href=\"#{id}\""), format!("href=\"#{new}\"")),
        ] {
            out = out.replace(&from, &to);
        }
    }
    out
}

/// HTML elements that have no closing tag.
const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

fn line_of(text: &str, at: usize) -> usize {
    text[..at].bytes().filter(|b| *b == b'\n').count() + 1
}

/// Checks that `html` is well-formed enough to be sure every element is where it was
/// meant to be: every start tag is closed by a matching end tag in the right order
/// (void HTML elements and `<x/>` excepted), attribute quotes are closed, no `<` stands
/// in text, and every `&` starts a character reference (`&amp;`, `&#39;`). The raw text
/// of `<script>` and `<style>` is skipped. Tag names are compared case-sensitively, as
/// SVG requires.
///
/// # Errors
/// A description of the first problem, with its line number.
pub fn check_well_formed(html: &str) -> Result<(), String> {
    let bytes = html.as_bytes();
    let mut stack: Vec<(String, usize)> = Vec::new();
    let mut i = 0;
    let err = |at: usize, what: String| Err(format!("line {}: {what}", line_of(html, at)));
    while i < bytes.len() {
        match bytes[i] {
            b'&' => {
                let len = entity_len(&html[i..]);
                if len == 0 {
                    return err(i, "`&` that starts no character reference".into());
                }
                i += len;
            }
            b'<' => {
                let rest = &html[i..];
                if rest.starts_with("<!--") {
                    let Some(end) = rest.find("-->") else {
                        return err(i, "unclosed comment".into());
                    };
                    i += end + 3;
                } else if rest.starts_with("<!") || rest.starts_with("<?") {
                    let close = if rest.starts_with("<?") { "?>" } else { ">" };
                    let Some(end) = rest.find(close) else {
                        return err(i, "unclosed declaration".into());
                    };
                    i += end + close.len();
                } else if let Some(after) = rest.strip_prefix("</") {
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_'))
                        .collect();
                    let tail = after[name.len()..].trim_start();
                    if name.is_empty() || !tail.starts_with('>') {
                        return err(i, "malformed end tag".into());
                    }
                    match stack.pop() {
                        Some((open, _)) if open == name => {}
                        Some((open, at)) => {
                            return err(
                                i,
                                format!(
                                    "</{name}> closes <{open}> (opened at line {})",
                                    line_of(html, at)
                                ),
                            );
                        }
                        None => return err(i, format!("</{name}> closes nothing")),
                    }
                    i += 2 + name.len() + (after.len() - name.len() - tail.len()) + 1;
                } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                    let name: String = rest[1..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | ':' | '_'))
                        .collect();
                    let mut j = i + 1 + name.len();
                    let mut quote: Option<u8> = None;
                    let mut last = b' ';
                    loop {
                        let Some(&b) = bytes.get(j) else {
                            return err(i, format!("unclosed start tag <{name}"));
                        };
                        match quote {
                            Some(q) if b == q => quote = None,
                            Some(_) if b == b'<' => {
                                return err(j, format!("`<` in an attribute of <{name}>"));
                            }
                            Some(_) if b == b'&' && entity_len(&html[j..]) == 0 => {
                                return err(
                                    j,
                                    format!(
                                        "`&` in an attribute of <{name}> starts no character reference"
                                    ),
                                );
                            }
                            Some(_) => {}
                            None if b == b'"' || b == b'\'' => quote = Some(b),
                            None if b == b'<' => {
                                return err(j, format!("`<` inside the start tag <{name}"));
                            }
                            None if b == b'>' => break,
                            None => {}
                        }
                        if !b.is_ascii_whitespace() {
                            last = b;
                        }
                        j += 1;
                    }
                    i = j + 1;
                    let lower = name.to_ascii_lowercase();
                    if last == b'/' || VOID.contains(&lower.as_str()) {
                        continue;
                    }
                    if lower == "script" || lower == "style" {
                        let close = format!("</{name}");
                        let Some(end) = html[i..].find(&close) else {
                            return err(i, format!("unclosed <{name}>"));
                        };
                        stack.push((name, i));
                        i += end;
                        continue;
                    }
                    stack.push((name, i));
                } else {
                    return err(i, "`<` in text (write &lt;)".into());
                }
            }
            _ => i += 1,
        }
    }
    if let Some((name, at)) = stack.pop() {
        return err(at, format!("<{name}> is never closed"));
    }
    Ok(())
}

/// The length of the character reference at the start of `text` (which starts with
/// `&`), or 0 if there is none.
fn entity_len(text: &str) -> usize {
    let body: String = text[1..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
        .take(12)
        .collect();
    if !body.is_empty() && text[1 + body.len()..].starts_with(';') {
        body.len() + 2
    } else {
        0
    }
}

/// The SVG namespace URIs a page may contain (they name a namespace; nothing is
/// fetched from them).
const NAMESPACES: [&str; 2] = [
    "xmlns=\"http://www.w3.org/2000/svg\"",
    "xmlns:xlink=\"http://www.w3.org/1999/xlink\"",
];

/// Every reference in `html` that a browser might resolve outside the page: `http://`
/// and `https://` URLs (except the SVG namespace attributes), protocol-relative `//`
/// URLs in attributes, any `src=`, `<link`, `@import`, `url(..)` other than `url(#..)`,
/// `href` to anything other than `#..`, and `fetch(` / `XMLHttpRequest` / `import(` in
/// scripts. Empty for a self-contained page. Each entry is an excerpt around the
/// reference.
pub fn external_references(html: &str) -> Vec<String> {
    let mut text = html.to_string();
    for ns in NAMESPACES {
        text = text.replace(ns, "");
    }
    let lower = text.to_ascii_lowercase();
    let mut found = Vec::new();
    let excerpt = |at: usize| {
        let start = (0..=at.saturating_sub(30))
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        let end = (at + 50).min(text.len());
        let end = (end..=text.len())
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(text.len());
        text[start..end].to_string()
    };
    let mut hits = |needle: &str, allowed: &dyn Fn(&str) -> bool| {
        let mut from = 0;
        while let Some(at) = lower[from..].find(needle) {
            let at = from + at;
            if !allowed(&lower[at + needle.len()..]) {
                found.push(excerpt(at));
            }
            from = at + needle.len();
        }
    };
    let never: &dyn Fn(&str) -> bool = &|_| false;
    hits("http://", never);
    hits("https://", never);
    hits("=\"//", never);
    hits("='//", never);
    hits("src=", never);
    hits("<link", never);
    hits("@import", never);
    hits("fetch(", never);
    hits("xmlhttprequest", never);
    hits("import(", never);
    hits("url(", &|after| {
        after
            .trim_start()
            .trim_start_matches(['"', '\''])
            .starts_with('#')
    });
    hits("href=", &|after| {
        after.trim_start_matches(['"', '\'']).starts_with('#')
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_pages_pass_and_broken_ones_fail() {
        let good = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>a>b{}</style>\
            </head><body><p title=\"a &amp; b > c\">x &lt; y</p><br>\
            <svg xmlns=\"http://www.w3.org/2000/svg\"><path d=\"M0 0\"/><text>t</text></svg>\
            <script>if (1 < 2) {}</script></body></html>";
        assert_eq!(check_well_formed(good), Ok(()));
        for (bad, why) in [
            ("<div><span></div></span>", "closes <span>"),
            ("<div>\n<p>", "never closed"),
            ("<p>a < b</p>", "in text"),
            ("<p>fish & chips</p>", "character reference"),
            ("<p title=\"x>y", "unclosed start tag"),
            ("<p title=\"x<y\"></p>", "in an attribute"),
            ("</p>", "closes nothing"),
            ("<svg><linearGradient></lineargradient></svg>", "closes"),
            ("<script>x", "unclosed <script>"),
        ] {
            let e = check_well_formed(bad).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(
            check_well_formed("<div>\n\n<b></i></div>")
                .unwrap_err()
                .starts_with("line 3")
        );
    }

    #[test]
    fn external_references_are_found_and_namespaces_allowed() {
        let clean = "<svg xmlns=\"http://www.w3.org/2000/svg\"><path marker-end=\"url(#a-arrow)\"/>\
            </svg><a href=\"#top\">top</a>";
        assert!(external_references(clean).is_empty());
        for bad in [
            "<img src=\"x.png\">",
            "<a href=\"https://example.com\">x</a>",
            "<style>@import 'x.css';</style>",
            "<link rel=stylesheet href=x.css>",
            "<div style=\"background:url(x.png)\"></div>",
            "<a href=\"metrics.csv\">m</a>",
            "<script>fetch('x')</script>",
            "<svg xmlns=\"http://evil/\"></svg>",
        ] {
            assert!(!external_references(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn inlined_svg_loses_its_prolog_and_gets_unique_ids() {
        let svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\">\
            <defs><marker id=\"arrow\"/></defs><path marker-end=\"url(#arrow)\"/><use href=\"#arrow\"/></svg>";
        let inlined = inline_svg(svg, "f3");
        assert!(inlined.starts_with("<svg"), "{inlined}");
        assert!(inlined.contains(" id=\"f3-arrow\""));
        assert!(inlined.contains("url(#f3-arrow)"));
        assert!(inlined.contains("href=\"#f3-arrow\""));
        assert!(!inlined.contains("\"arrow\"") && !inlined.contains("#arrow)"));
    }

    #[test]
    fn escaping_covers_markup_characters() {
        assert_eq!(escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
    }
}
