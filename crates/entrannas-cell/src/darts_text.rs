//! DARTS's Python text form of a genotype, read and written.
//!
//! ```text
//! Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ...], normal_concat=range(2, 6),
//!          reduce=[('max_pool_3x3', 0), ...], reduce_concat=[2, 3, 4, 5])
//! ```
//!
//! A cell is a flat list of `('op', input)` pairs (op first), in node order.
//!
//! # The node-grouping rule
//!
//! DARTS cells have exactly 2 pairs per intermediate node; our genotypes (DST) allow
//! any number of connections per node, so:
//!
//! - **Export** ([`Genotype::to_darts_text`]) writes every cell in the plain DARTS form
//!   `normal=[...], normal_concat=[...]`. If any node of a cell has other than 2
//!   connections, it adds the extension field `normal_nodes=[2, 3, 1, 2]` (the number
//!   of pairs of each node, in order) right after that cell's concat. If the cell has
//!   other than 2 inputs, it also adds `normal_inputs=3`. (Same for `reduce`.)
//! - **Import** ([`Genotype::from_darts_text`]) with `*_nodes` splits the pairs into
//!   nodes by those counts (which must add up to the number of pairs); without it, the
//!   number of pairs must be even and they are grouped 2 per node. `*_inputs` defaults
//!   to 2.
//!
//! Text written by export therefore parses back to the same genotype, and plain DARTS
//! text reads as DARTS meant it.
//!
//! # Accepted syntax
//!
//! An optional `Genotype` prefix; keyword arguments in any order (or DARTS's four
//! positional arguments `normal, normal_concat, reduce, reduce_concat`); single or
//! double quotes; lists in `[...]` or `(...)`; trailing commas; any whitespace and `#`
//! comments; concat as a list or as `range(a, b)` / `range(b)`. Fields `normal`,
//! `normal_concat`, `reduce`, `reduce_concat` are required.

use core::fmt;
use core::str::FromStr;

use crate::error::GenotypeError;
use crate::genotype::{CellGenotype, CellKind, Connection, Genotype};

impl Genotype {
    /// The genotype in DARTS's text form, following
    /// [the node-grouping rule](crate::darts_text#the-node-grouping-rule).
    pub fn to_darts_text(&self) -> String {
        let cells: Vec<String> = self
            .cells()
            .into_iter()
            .map(|(kind, cell)| write_cell(kind, cell))
            .collect();
        format!("Genotype({})", cells.join(", "))
    }

    /// Parses DARTS's text form (see [the module docs](crate::darts_text)).
    ///
    /// The result has a valid structure ([`validate_structure`](Self::validate_structure));
    /// op names are not checked.
    ///
    /// # Errors
    /// [`GenotypeError::DartsText`] with the line, column and what was expected; or a
    /// structural error.
    pub fn from_darts_text(text: &str) -> Result<Self, GenotypeError> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            text,
            tokens,
            next: 0,
        };
        let fields = parser.genotype()?;
        let genotype = Genotype {
            normal: fields.build_cell(CellKind::Normal, &parser)?,
            reduce: fields.build_cell(CellKind::Reduce, &parser)?,
        };
        genotype.validate_structure()?;
        Ok(genotype)
    }
}

impl fmt::Display for Genotype {
    /// Writes [`Genotype::to_darts_text`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_darts_text())
    }
}

impl FromStr for Genotype {
    type Err = GenotypeError;

    /// Parses with [`Genotype::from_darts_text`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_darts_text(s)
    }
}

fn write_cell(kind: CellKind, cell: &CellGenotype) -> String {
    let pairs: Vec<String> = cell
        .nodes
        .iter()
        .flatten()
        .map(|c| format!("({}, {})", python_str(&c.op), c.input))
        .collect();
    let mut out = format!(
        "{kind}=[{}], {kind}_concat={}",
        pairs.join(", "),
        int_list(&cell.concat)
    );
    if cell.nodes.iter().any(|n| n.len() != 2) {
        let counts: Vec<usize> = cell.nodes.iter().map(Vec::len).collect();
        out.push_str(&format!(", {kind}_nodes={}", int_list(&counts)));
    }
    if cell.inputs != 2 {
        out.push_str(&format!(", {kind}_inputs={}", cell.inputs));
    }
    out
}

fn int_list(values: &[usize]) -> String {
    let items: Vec<String> = values.iter().map(usize::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// A Python string literal for `s`, quoted as Python's `repr` does.
fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for ch in s.chars() {
        if ch == '\\' || ch == quote {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push(quote);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Int(usize),
    Str(String),
    Punct(char),
    End,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "`{s}`"),
            Token::Int(n) => write!(f, "`{n}`"),
            Token::Str(s) => write!(f, "string {}", python_str(s)),
            Token::Punct(c) => write!(f, "`{c}`"),
            Token::End => f.write_str("end of text"),
        }
    }
}

/// A DARTS-text error at byte `offset` of `text`.
fn error_at(
    text: &str,
    offset: usize,
    expected: impl Into<String>,
    found: impl Into<String>,
) -> GenotypeError {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    GenotypeError::DartsText {
        line,
        column,
        expected: expected.into(),
        found: found.into(),
    }
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, GenotypeError> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, ch)) = chars.peek() {
        if ch.is_whitespace() {
            chars.next();
        } else if ch == '#' {
            while chars.next_if(|&(_, c)| c != '\n').is_some() {}
        } else if "()[],=".contains(ch) {
            chars.next();
            tokens.push((Token::Punct(ch), start));
        } else if ch.is_ascii_digit() {
            let mut end = start;
            while let Some((i, c)) = chars.next_if(|&(_, c)| c.is_ascii_digit()) {
                end = i + c.len_utf8();
            }
            let digits = &text[start..end];
            let value = digits.parse().map_err(|_| {
                error_at(
                    text,
                    start,
                    "a node index",
                    format!("`{digits}` (too large)"),
                )
            })?;
            tokens.push((Token::Int(value), start));
        } else if ch == '_' || ch.is_alphabetic() {
            let mut end = start;
            while let Some((i, c)) = chars.next_if(|&(_, c)| c == '_' || c.is_alphanumeric()) {
                end = i + c.len_utf8();
            }
            tokens.push((Token::Ident(text[start..end].to_owned()), start));
        } else if ch == '\'' || ch == '"' {
            chars.next();
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => {
                        return Err(error_at(
                            text,
                            start,
                            format!("a closing {ch} for this string"),
                            "end of text",
                        ));
                    }
                    Some((_, c)) if c == ch => break,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => {
                            return Err(error_at(
                                text,
                                start,
                                format!("a closing {ch} for this string"),
                                "end of text",
                            ));
                        }
                    },
                    Some((_, c)) => value.push(c),
                }
            }
            tokens.push((Token::Str(value), start));
        } else {
            return Err(error_at(
                text,
                start,
                "a name, number, string or one of ( ) [ ] , =",
                format!("`{ch}`"),
            ));
        }
    }
    tokens.push((Token::End, text.len()));
    Ok(tokens)
}

/// The fields of DARTS text, with the byte offset of each value.
#[derive(Default)]
struct Fields {
    normal: Option<(Vec<(String, usize)>, usize)>,
    normal_concat: Option<(Vec<usize>, usize)>,
    normal_nodes: Option<(Vec<usize>, usize)>,
    normal_inputs: Option<(usize, usize)>,
    reduce: Option<(Vec<(String, usize)>, usize)>,
    reduce_concat: Option<(Vec<usize>, usize)>,
    reduce_nodes: Option<(Vec<usize>, usize)>,
    reduce_inputs: Option<(usize, usize)>,
}

const FIELD_NAMES: &str = "`normal`, `normal_concat`, `reduce`, `reduce_concat`, \
     `normal_nodes`, `reduce_nodes`, `normal_inputs` or `reduce_inputs`";
const POSITIONAL: [&str; 4] = ["normal", "normal_concat", "reduce", "reduce_concat"];

impl Fields {
    fn build_cell(
        &self,
        kind: CellKind,
        parser: &Parser<'_>,
    ) -> Result<CellGenotype, GenotypeError> {
        let (pairs, concat, nodes, inputs) = match kind {
            CellKind::Normal => (
                &self.normal,
                &self.normal_concat,
                &self.normal_nodes,
                &self.normal_inputs,
            ),
            CellKind::Reduce => (
                &self.reduce,
                &self.reduce_concat,
                &self.reduce_nodes,
                &self.reduce_inputs,
            ),
        };
        let end = parser.text.len();
        let missing = |field: String| {
            error_at(
                parser.text,
                end,
                format!("a field `{field}`"),
                "end of the genotype",
            )
        };
        let (pairs, pairs_at) = pairs.as_ref().ok_or_else(|| missing(kind.to_string()))?;
        let (concat, _) = concat
            .as_ref()
            .ok_or_else(|| missing(format!("{kind}_concat")))?;
        let connections = pairs
            .iter()
            .map(|(op, input)| Connection::new(*input, op.clone()));
        let nodes = match nodes {
            Some((counts, counts_at)) => {
                let total: usize = counts.iter().sum();
                if total != pairs.len() {
                    return Err(error_at(
                        parser.text,
                        *counts_at,
                        format!(
                            "node sizes adding up to the {} pairs of `{kind}`",
                            pairs.len()
                        ),
                        format!("sizes adding up to {total}"),
                    ));
                }
                let mut connections = connections;
                counts
                    .iter()
                    .map(|&n| connections.by_ref().take(n).collect())
                    .collect()
            }
            None => {
                if pairs.len() % 2 != 0 {
                    return Err(error_at(
                        parser.text,
                        *pairs_at,
                        format!(
                            "an even number of (op, input) pairs (2 per node), or a `{kind}_nodes=[...]` field giving the pairs per node"
                        ),
                        format!("{} pairs", pairs.len()),
                    ));
                }
                let connections: Vec<Connection> = connections.collect();
                connections.chunks(2).map(<[Connection]>::to_vec).collect()
            }
        };
        Ok(CellGenotype {
            inputs: inputs.map_or(2, |(n, _)| n),
            nodes,
            concat: concat.clone(),
        })
    }
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(Token, usize)>,
    next: usize,
}

impl Parser<'_> {
    fn peek(&self) -> &Token {
        &self.tokens[self.next.min(self.tokens.len() - 1)].0
    }

    fn peek2(&self) -> &Token {
        &self.tokens[(self.next + 1).min(self.tokens.len() - 1)].0
    }

    fn offset(&self) -> usize {
        self.tokens[self.next.min(self.tokens.len() - 1)].1
    }

    fn bump(&mut self) -> Token {
        let token = self.peek().clone();
        if self.next < self.tokens.len() - 1 {
            self.next += 1;
        }
        token
    }

    fn fail<T>(&self, expected: impl Into<String>) -> Result<T, GenotypeError> {
        Err(error_at(
            self.text,
            self.offset(),
            expected,
            self.peek().to_string(),
        ))
    }

    fn eat(&mut self, punct: char) -> bool {
        if *self.peek() == Token::Punct(punct) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: char) -> Result<(), GenotypeError> {
        if self.eat(punct) {
            Ok(())
        } else {
            self.fail(format!("`{punct}`"))
        }
    }

    fn int(&mut self, what: &str) -> Result<usize, GenotypeError> {
        match self.peek() {
            Token::Int(n) => {
                let n = *n;
                self.bump();
                Ok(n)
            }
            _ => self.fail(what),
        }
    }

    /// `[Genotype] ( fields ) <end>`
    fn genotype(&mut self) -> Result<Fields, GenotypeError> {
        if *self.peek() == Token::Ident("Genotype".to_owned()) {
            self.bump();
        }
        if !self.eat('(') {
            return self.fail("`Genotype(` or `(`");
        }
        let mut fields = Fields::default();
        let mut position = 0;
        let mut keywords = false;
        while !self.eat(')') {
            let at = self.offset();
            let name = match (self.peek().clone(), self.peek2()) {
                (Token::Ident(name), Token::Punct('=')) => {
                    self.bump();
                    self.bump();
                    keywords = true;
                    name
                }
                _ if !keywords && position < POSITIONAL.len() => POSITIONAL[position].to_owned(),
                _ if !keywords => return self.fail("`)`"),
                _ => return self.fail(format!("a field name followed by `=` ({FIELD_NAMES})")),
            };
            position += 1;
            self.field(&mut fields, &name, at)?;
            if !self.eat(',') && *self.peek() != Token::Punct(')') {
                return self.fail("`,` or `)`");
            }
        }
        if *self.peek() != Token::End {
            return self.fail("end of text after the genotype");
        }
        Ok(fields)
    }

    fn field(
        &mut self,
        fields: &mut Fields,
        name: &str,
        name_at: usize,
    ) -> Result<(), GenotypeError> {
        let at = self.offset();
        let text = self.text;
        let duplicate = |set: bool| -> Result<(), GenotypeError> {
            if set {
                Err(error_at(
                    text,
                    name_at,
                    "each field once",
                    format!("a second `{name}`"),
                ))
            } else {
                Ok(())
            }
        };
        match name {
            "normal" | "reduce" => {
                let slot = if name == "normal" {
                    &mut fields.normal
                } else {
                    &mut fields.reduce
                };
                duplicate(slot.is_some())?;
                *slot = Some((self.pairs()?, at));
            }
            "normal_concat" | "reduce_concat" => {
                let slot = if name == "normal_concat" {
                    &mut fields.normal_concat
                } else {
                    &mut fields.reduce_concat
                };
                duplicate(slot.is_some())?;
                *slot = Some((self.concat()?, at));
            }
            "normal_nodes" | "reduce_nodes" => {
                let slot = if name == "normal_nodes" {
                    &mut fields.normal_nodes
                } else {
                    &mut fields.reduce_nodes
                };
                duplicate(slot.is_some())?;
                *slot = Some((self.int_list("a list of pair counts like [2, 3, 1]")?, at));
            }
            "normal_inputs" | "reduce_inputs" => {
                let slot = if name == "normal_inputs" {
                    &mut fields.normal_inputs
                } else {
                    &mut fields.reduce_inputs
                };
                duplicate(slot.is_some())?;
                *slot = Some((self.int("the number of input nodes")?, at));
            }
            _ => {
                return Err(error_at(
                    self.text,
                    name_at,
                    format!("a field name ({FIELD_NAMES})"),
                    format!("`{name}`"),
                ));
            }
        }
        Ok(())
    }

    /// Opens a list written `[` or `(`; returns the closing bracket.
    fn open(&mut self, what: &str) -> Result<char, GenotypeError> {
        if self.eat('[') {
            Ok(']')
        } else if self.eat('(') {
            Ok(')')
        } else {
            self.fail(what)
        }
    }

    /// Parses `item (, item)* [,]` up to `close`.
    fn items<T>(
        &mut self,
        close: char,
        mut item: impl FnMut(&mut Self) -> Result<T, GenotypeError>,
    ) -> Result<Vec<T>, GenotypeError> {
        let mut items = Vec::new();
        while !self.eat(close) {
            items.push(item(self)?);
            if !self.eat(',') && *self.peek() != Token::Punct(close) {
                return self.fail(format!("`,` or `{close}`"));
            }
        }
        Ok(items)
    }

    fn pairs(&mut self) -> Result<Vec<(String, usize)>, GenotypeError> {
        let close = self.open("a list of ('op', input) pairs")?;
        self.items(close, |p| {
            let close = p.open("a pair ('op', input)")?;
            let op = match p.peek() {
                Token::Str(op) => op.clone(),
                _ => return p.fail("an operation name in quotes"),
            };
            p.bump();
            p.expect(',')?;
            let input = p.int("an input node index")?;
            p.eat(',');
            if !p.eat(close) {
                return p.fail(format!("`{close}` closing the pair"));
            }
            Ok((op, input))
        })
    }

    fn int_list(&mut self, what: &str) -> Result<Vec<usize>, GenotypeError> {
        let close = self.open(what)?;
        self.items(close, |p| p.int("a number"))
    }

    fn concat(&mut self) -> Result<Vec<usize>, GenotypeError> {
        if *self.peek() != Token::Ident("range".to_owned()) {
            return self.int_list("a list of node indices or `range(a, b)`");
        }
        self.bump();
        self.expect('(')?;
        let first = self.int("a number")?;
        let range = if self.eat(',') && *self.peek() != Token::Punct(')') {
            let second = self.int("a number")?;
            self.eat(',');
            first..second
        } else {
            0..first
        };
        self.expect(')')?;
        Ok(range.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::{DARTS_V2_TEXT, darts_v2};

    fn parse_err(text: &str) -> (usize, usize, String, String) {
        match Genotype::from_darts_text(text) {
            Err(GenotypeError::DartsText {
                line,
                column,
                expected,
                found,
            }) => (line, column, expected, found),
            other => panic!("{text}: expected a DartsText error, got {other:?}"),
        }
    }

    #[test]
    fn darts_v2_text_round_trips_in_plain_darts_form() {
        let g = darts_v2();
        let text = g.to_darts_text();
        assert_eq!(text, DARTS_V2_TEXT);
        assert!(!text.contains("_nodes") && !text.contains("_inputs"));
        assert_eq!(text.parse::<Genotype>().unwrap(), g);
        assert_eq!(g.to_string(), text);
    }

    #[test]
    fn accepts_syntax_variations() {
        let g = darts_v2();
        let variants = [
            // no prefix, double quotes, ranges, odd whitespace, trailing commas
            "( normal = [ (\"sep_conv_3x3\",0),(\"sep_conv_3x3\",1), (\"sep_conv_3x3\", 0), \
             (\"sep_conv_3x3\", 1), (\"sep_conv_3x3\", 1), ('skip_connect', 0), \
             ('skip_connect', 0), ('dil_conv_3x3', 2,), ],\n\tnormal_concat=range(2, 6),\n \
             reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), \
             ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), \
             ('max_pool_3x3', 1)], reduce_concat = range( 2 , 6 , ) , )\n",
            // keyword order changed, tuples for lists, comment
            "Genotype(reduce_concat=(2, 3, 4, 5), # the output\n reduce=[['max_pool_3x3', 0], \
             ['max_pool_3x3', 1], ['skip_connect', 2], ['max_pool_3x3', 1], ['max_pool_3x3', 0], \
             ['skip_connect', 2], ['skip_connect', 2], ['max_pool_3x3', 1]], \
             normal=(('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
             ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
             ('dil_conv_3x3', 2)), normal_concat=[2,3,4,5])",
            // positional, as a namedtuple
            "Genotype([('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), \
             ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), \
             ('dil_conv_3x3', 2)], range(2, 6), [('max_pool_3x3', 0), ('max_pool_3x3', 1), \
             ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), \
             ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=range(2, 6))",
        ];
        for text in variants {
            assert_eq!(Genotype::from_darts_text(text).unwrap(), g, "{text}");
        }
    }

    #[test]
    fn range_with_one_argument_starts_at_zero() {
        let mut p = Parser {
            text: "range(3)",
            tokens: tokenize("range(3)").unwrap(),
            next: 0,
        };
        assert_eq!(p.concat().unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn dst_cells_use_the_nodes_extension() {
        let mut g = darts_v2();
        g.normal.nodes[1].push(Connection::new(2, "sep_conv_5x5"));
        g.normal.nodes[3].truncate(1);
        g.reduce.inputs = 3;
        for node in &mut g.reduce.nodes {
            for c in node.iter_mut() {
                c.input += 1;
            }
        }
        g.reduce.concat = vec![3, 4, 5, 6];
        let text = g.to_darts_text();
        assert!(
            text.contains("normal_concat=[2, 3, 4, 5], normal_nodes=[2, 3, 2, 1], reduce="),
            "{text}"
        );
        assert!(
            text.ends_with("reduce_concat=[3, 4, 5, 6], reduce_inputs=3)"),
            "{text}"
        );
        assert!(!text.contains("reduce_nodes"));
        assert_eq!(Genotype::from_darts_text(&text).unwrap(), g);
    }

    #[test]
    fn quotes_in_op_names_are_escaped() {
        assert_eq!(python_str("a'b"), "\"a'b\"");
        assert_eq!(python_str("a'b\"c\\"), "'a\\'b\"c\\\\'");
        let mut g = darts_v2();
        g.normal.nodes[0][0].op = "we'ird\"op\\".to_owned();
        g.reduce.nodes[0][0].op = "it's".to_owned();
        assert_eq!(Genotype::from_darts_text(&g.to_darts_text()).unwrap(), g);
    }

    #[test]
    fn odd_pairs_without_nodes_field_is_an_error() {
        let (line, column, expected, found) = parse_err(
            "Genotype(normal=[('a', 0), ('b', 1), ('c', 2)], normal_concat=[2], \
             reduce=[('a', 0), ('b', 1)], reduce_concat=[2])",
        );
        assert_eq!((line, column), (1, 17));
        assert!(expected.contains("even number") && expected.contains("normal_nodes"));
        assert_eq!(found, "3 pairs");
    }

    #[test]
    fn nodes_field_must_match_the_pairs() {
        let (_, column, expected, found) = parse_err(
            "Genotype(normal=[('a', 0), ('b', 1), ('c', 2)], normal_concat=[2], normal_nodes=[1, 1], \
             reduce=[('a', 0), ('b', 1)], reduce_concat=[2])",
        );
        assert_eq!(column, 81);
        assert!(expected.contains("3 pairs of `normal`"), "{expected}");
        assert_eq!(found, "sizes adding up to 2");
    }

    #[test]
    fn syntax_errors_give_line_column_and_expectation() {
        let cases: [(&str, (usize, usize), &str, &str); 9] = [
            ("", (1, 1), "`Genotype(` or `(`", "end of text"),
            ("Genotype(normal=[('a' 0)])", (1, 23), "`,`", "`0`"),
            (
                "Genotype(normal=[(0, 'a')])",
                (1, 19),
                "an operation name in quotes",
                "`0`",
            ),
            (
                "Genotype(\n  normal=[('a', 0), ('b', 1)],\n  bogus=3)",
                (3, 3),
                "a field name",
                "`bogus`",
            ),
            (
                "Genotype(normal=[('a', 0)",
                (1, 26),
                "`,` or `]`",
                "end of text",
            ),
            (
                "Genotype(normal=[('a, 0)])",
                (1, 19),
                "a closing '",
                "end of text",
            ),
            (
                "Genotype(normal=[('a', 0)]) extra",
                (1, 29),
                "end of text after",
                "`extra`",
            ),
            (
                "Genotype(normal=[('a', -1)])",
                (1, 24),
                "a name, number, string",
                "`-`",
            ),
            (
                "Genotype(normal=[('a', 0), ('b', 1)], normal_concat=[2], normal=[])",
                (1, 58),
                "each field once",
                "a second `normal`",
            ),
        ];
        for (text, position, expected, found) in cases {
            let (line, column, e, f) = parse_err(text);
            assert_eq!((line, column), position, "{text}: {e} / {f}");
            assert!(
                e.contains(expected),
                "{text}: expected {e:?} to contain {expected:?}"
            );
            assert_eq!(f, found, "{text}");
        }
        let message = Genotype::from_darts_text("Genotype(normal=[('a' 0)])")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "DARTS genotype text, line 1, column 23: expected `,`, found `0`"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let (_, _, expected, _) = parse_err(
            "Genotype(normal=[('a', 0), ('b', 1)], reduce=[('a', 0), ('b', 1)], reduce_concat=[2])",
        );
        assert_eq!(expected, "a field `normal_concat`");
        let (_, _, expected, _) =
            parse_err("Genotype(normal=[('a', 0), ('b', 1)], normal_concat=[2])");
        assert_eq!(expected, "a field `reduce`");
    }

    #[test]
    fn huge_numbers_are_errors_not_panics() {
        let (_, column, _, found) = parse_err("Genotype(normal=[('a', 99999999999999999999999)])");
        assert_eq!(column, 24);
        assert!(found.contains("too large"));
    }

    #[test]
    fn structure_is_checked_after_parsing() {
        let err = Genotype::from_darts_text(
            "Genotype(normal=[('a', 0), ('b', 2)], normal_concat=[2], \
             reduce=[('a', 0), ('b', 1)], reduce_concat=[2])",
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                GenotypeError::ForwardInput {
                    cell: CellKind::Normal,
                    node: 2,
                    input: 2,
                    ..
                }
            ),
            "{err}"
        );
    }
}
