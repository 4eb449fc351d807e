//! Cell diagrams in the style of the DARTS / EnTranNAS figures, as standalone SVG
//! (pure Rust, no Graphviz needed) or as Graphviz DOT.
//!
//! Input nodes are labelled `c_{k-2}`, `c_{k-1}` (for `n` inputs: `c_{k-n}` ..
//! `c_{k-1}`), intermediate nodes `0, 1, ...` (DARTS's plot numbering, which starts at
//! the first intermediate node), and the output `c_{k}`. Every selected connection is
//! an arrow labelled with its op; every concatenated node has an unlabelled arrow to
//! the output.
//!
//! The SVG lays nodes out left to right in layers: inputs in the first column, each
//! intermediate node one column right of its rightmost source, the output last. As in
//! Graphviz, each gap between two columns holds a column of op labels: a connection's
//! label sits in the gap just left of its target, the labels of a gap are stacked so
//! that none overlaps another (parallel edges, several ops between the same two nodes,
//! thus get separate curves), and the gap is made wide enough for its widest label.
//! Edges are S-curves; an edge that skips columns passes through the free space
//! between (or around) the nodes of each column it crosses.
//!
//! Diagrams never panic: an invalid cell (see
//! [`CellGenotype::validate`]) is drawn as far as it can be, leaving out connections and
//! concat entries that name a node that does not exist.

#![warn(missing_docs)]

use entrannas_cell::{CellGenotype, CellKind, Genotype};

/// Horizontal distance between columns.
const COL_GAP: f64 = 210.0;
/// Vertical distance between nodes of one column.
const ROW_GAP: f64 = 84.0;
/// Height of a node box.
const BOX_H: f64 = 32.0;
/// Font size of node labels.
const NODE_FONT: f64 = 15.0;
/// Font size of op labels.
const OP_FONT: f64 = 12.0;
/// Font size of titles.
const TITLE_FONT: f64 = 16.0;
/// Estimated width of a character, in ems, for text boxes.
const CHAR_EM: f64 = 0.62;
/// Horizontal room for curves on each side of a gap's label column.
const CURVE_ROOM: f64 = 36.0;
/// Vertical space between stacked op labels.
const LABEL_GAP: f64 = 4.0;
/// Margin around the drawing.
const MARGIN: f64 = 12.0;
/// Horizontal gap between the two cells of [`genotype_svg`].
const CELL_GAP: f64 = 48.0;

const INPUT_FILL: &str = "#b4eeb4"; // Graphviz darkseagreen2, as in DARTS's plot
const NODE_FILL: &str = "#add8e6"; // lightblue
const OUTPUT_FILL: &str = "#eee8aa"; // palegoldenrod

/// The label of input node `i` of a cell with `inputs` inputs: `c_{k-(inputs-i)}`.
pub fn input_label(i: usize, inputs: usize) -> String {
    format!("c_{{k-{}}}", inputs.saturating_sub(i))
}

/// The label of node `node` (DARTS numbering: the inputs first) of a cell with `inputs`
/// inputs, as the diagrams show it: an input's [`input_label`], an intermediate node's
/// number counted from the first intermediate node (`0, 1, ...`).
pub fn node_label(node: usize, inputs: usize) -> String {
    if node < inputs {
        input_label(node, inputs)
    } else {
        (node - inputs).to_string()
    }
}

/// The label of the cell output: `c_{k}`.
pub const OUTPUT_LABEL: &str = "c_{k}";

/// The cell as a standalone SVG document titled `title` (no title if empty).
pub fn cell_svg(cell: &CellGenotype, title: &str) -> String {
    let drawing = draw_cell(cell, title);
    svg_document(&drawing.bbox, title, &drawing.body)
}

/// Both cells of `genotype` side by side (normal left, reduction right) in one SVG.
pub fn genotype_svg(genotype: &Genotype) -> String {
    let normal = draw_cell(&genotype.normal, "normal cell");
    let reduce = draw_cell(&genotype.reduce, "reduction cell");
    let dx = normal.bbox.max_x + CELL_GAP - reduce.bbox.min_x;
    let dy = normal.bbox.min_y - reduce.bbox.min_y;
    let bbox = BBox {
        min_x: normal.bbox.min_x,
        min_y: normal.bbox.min_y,
        max_x: reduce.bbox.max_x + dx,
        max_y: normal.bbox.max_y.max(reduce.bbox.max_y + dy),
    };
    let body = format!(
        "{}<g transform=\"translate({} {})\">\n{}</g>\n",
        normal.body,
        num(dx),
        num(dy),
        reduce.body
    );
    svg_document(&bbox, "genotype", &body)
}

/// The cell as a Graphviz `digraph` (left to right, DARTS's colours), titled `title`
/// (no title if empty). Nodes are `n0`, `n1`, ... (DARTS numbering) and `out`.
pub fn cell_dot(cell: &CellGenotype, title: &str) -> String {
    let mut out = String::from("digraph cell {\n");
    out.push_str(DOT_DEFAULTS);
    if !title.is_empty() {
        out.push_str(&format!("  label={}; labelloc=t;\n", dot_str(title)));
    }
    write_dot_cell(&mut out, cell, "", "  ");
    out.push_str("}\n");
    out
}

/// Both cells of `genotype` as one Graphviz `digraph` with two clusters; node names
/// are prefixed `normal_` and `reduce_`.
pub fn genotype_dot(genotype: &Genotype) -> String {
    let mut out = String::from("digraph genotype {\n");
    out.push_str(DOT_DEFAULTS);
    for (kind, cell) in genotype.cells() {
        let title = match kind {
            CellKind::Normal => "normal cell",
            CellKind::Reduce => "reduction cell",
        };
        out.push_str(&format!(
            "  subgraph cluster_{kind} {{\n    label={};\n",
            dot_str(title)
        ));
        write_dot_cell(&mut out, cell, &format!("{kind}_"), "    ");
        out.push_str("  }\n");
    }
    out.push_str("}\n");
    out
}

const DOT_DEFAULTS: &str = "  graph [rankdir=LR, fontname=\"helvetica\"];\n  \
    node [style=\"filled,rounded\", shape=rect, align=center, fontsize=20, height=0.5, \
    width=0.5, penwidth=2, fontname=\"helvetica\"];\n  \
    edge [fontsize=20, fontname=\"times\"];\n";

fn write_dot_cell(out: &mut String, cell: &CellGenotype, prefix: &str, indent: &str) {
    let total = cell.num_nodes();
    for i in 0..cell.inputs {
        out.push_str(&format!(
            "{indent}{prefix}n{i} [label={}, fillcolor=darkseagreen2];\n",
            dot_str(&input_label(i, cell.inputs))
        ));
    }
    for (k, _) in cell.nodes.iter().enumerate() {
        out.push_str(&format!(
            "{indent}{prefix}n{} [label=\"{k}\", fillcolor=lightblue];\n",
            cell.inputs + k
        ));
    }
    out.push_str(&format!(
        "{indent}{prefix}out [label={}, fillcolor=palegoldenrod];\n",
        dot_str(OUTPUT_LABEL)
    ));
    for (node, c) in cell.connections().filter(|(_, c)| c.input < total) {
        out.push_str(&format!(
            "{indent}{prefix}n{} -> {prefix}n{node} [label={}, fillcolor=gray];\n",
            c.input,
            dot_str(&c.op)
        ));
    }
    for &index in cell.concat.iter().filter(|&&i| i < total) {
        out.push_str(&format!(
            "{indent}{prefix}n{index} -> {prefix}out [fillcolor=gray];\n"
        ));
    }
}

/// A DOT double-quoted string.
fn dot_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text escaped for XML content and attribute values.
fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 does not allow at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with one decimal.
fn num(v: f64) -> String {
    format!("{v:.1}")
}

fn text_width(text: &str, font: f64) -> f64 {
    text.chars().count() as f64 * font * CHAR_EM
}

#[derive(Debug, Clone, Copy)]
struct BBox {
    min_x: f64,
    min_y: f64,
    max_x: f64,
    max_y: f64,
}

impl BBox {
    fn empty() -> Self {
        Self {
            min_x: f64::INFINITY,
            min_y: f64::INFINITY,
            max_x: f64::NEG_INFINITY,
            max_y: f64::NEG_INFINITY,
        }
    }

    fn add_point(&mut self, (x, y): (f64, f64)) {
        self.min_x = self.min_x.min(x);
        self.min_y = self.min_y.min(y);
        self.max_x = self.max_x.max(x);
        self.max_y = self.max_y.max(y);
    }

    fn add_rect(&mut self, r: &Rect) {
        self.add_point((r.x - r.w / 2.0, r.y - r.h / 2.0));
        self.add_point((r.x + r.w / 2.0, r.y + r.h / 2.0));
    }
}

/// A rectangle given by its centre and size.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// A cubic Bézier segment.
#[derive(Debug, Clone, Copy)]
struct Cubic {
    from: (f64, f64),
    c1: (f64, f64),
    c2: (f64, f64),
    to: (f64, f64),
}

impl Cubic {
    /// From `from` to `to`, leaving and arriving horizontally (an S-curve).
    fn horizontal(from: (f64, f64), to: (f64, f64)) -> Self {
        let pull = ((to.0 - from.0) / 2.0).abs().max(12.0);
        Self {
            from,
            c1: (from.0 + pull, from.1),
            c2: (to.0 - pull, to.1),
            to,
        }
    }

    fn at(&self, t: f64) -> (f64, f64) {
        let u = 1.0 - t;
        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
        (
            a * self.from.0 + b * self.c1.0 + c * self.c2.0 + d * self.to.0,
            a * self.from.1 + b * self.c1.1 + c * self.c2.1 + d * self.to.1,
        )
    }
}

/// An edge's path through `points`: S-curves between consecutive points, except a
/// straight line where `straight[i]` (under a label).
struct EdgePath {
    points: Vec<(f64, f64)>,
    straight: Vec<bool>,
}

impl EdgePath {
    fn new(start: (f64, f64)) -> Self {
        Self {
            points: vec![start],
            straight: Vec::new(),
        }
    }

    fn curve_to(&mut self, point: (f64, f64)) {
        self.points.push(point);
        self.straight.push(false);
    }

    fn line_to(&mut self, point: (f64, f64)) {
        self.points.push(point);
        self.straight.push(true);
    }

    fn segments(&self) -> impl Iterator<Item = (Cubic, bool)> + '_ {
        self.points
            .windows(2)
            .zip(&self.straight)
            .map(|(w, &straight)| (Cubic::horizontal(w[0], w[1]), straight))
    }

    fn svg(&self) -> String {
        let (x, y) = self.points[0];
        let mut d = format!("M {} {}", num(x), num(y));
        for (c, straight) in self.segments() {
            if straight {
                d.push_str(&format!(" L {} {}", num(c.to.0), num(c.to.1)));
            } else {
                d.push_str(&format!(
                    " C {} {} {} {} {} {}",
                    num(c.c1.0),
                    num(c.c1.1),
                    num(c.c2.0),
                    num(c.c2.1),
                    num(c.to.0),
                    num(c.to.1)
                ));
            }
        }
        d
    }

    fn add_to(&self, bbox: &mut BBox) {
        for (c, _) in self.segments() {
            for i in 0..=8 {
                bbox.add_point(c.at(f64::from(i) / 8.0));
            }
        }
    }
}

struct Drawing {
    body: String,
    bbox: BBox,
}

/// One node box of the diagram.
struct NodeBox {
    rect: Rect,
    layer: usize,
    label: String,
    fill: &'static str,
}

/// A labelled edge: a connection `from -> to` with op `op`, its label box and path.
struct OpEdge<'a> {
    from: usize,
    to: usize,
    op: &'a str,
    label: Rect,
    path: EdgePath,
}

/// Where everything goes.
struct Layout<'a> {
    /// The cell's nodes in DARTS order, then the output.
    boxes: Vec<NodeBox>,
    /// One per connection (leaving out those from nodes that do not exist).
    op_edges: Vec<OpEdge<'a>>,
    /// One per concat entry naming an existing node.
    concat_edges: Vec<EdgePath>,
}

/// Lays the cell out in columns (layers) with one column of op labels in each gap:
/// the label of a connection sits in the gap just left of its target, labels of a gap
/// are stacked without overlap in the order of their edges, and edges that skip
/// columns pass through the free space between the nodes of each column they cross.
fn layout(cell: &CellGenotype) -> Layout<'_> {
    let total = cell.num_nodes();
    let mut boxes = layout_nodes(cell);
    let last = boxes.iter().map(|b| b.layer).max().unwrap_or(0);
    let connections: Vec<(usize, usize, &str)> = cell
        .connections()
        .filter(|(_, c)| c.input < total)
        .map(|(node, c)| (c.input, node, c.op.as_str()))
        .collect();
    let label_size = |op: &str| (text_width(op, OP_FONT) + 8.0, OP_FONT + 6.0);
    // The gap left of each node, holding the labels of the node's connections.
    let gaps: Vec<usize> = boxes.iter().map(|b| b.layer.saturating_sub(1)).collect();
    let gap_of = |to: usize| gaps[to];

    // Column x positions: each gap wide enough for its widest label.
    let half_widths: Vec<f64> = (0..=last)
        .map(|layer| {
            boxes
                .iter()
                .filter(|b| b.layer == layer)
                .map(|b| b.rect.w / 2.0)
                .fold(0.0, f64::max)
        })
        .collect();
    let half_width = |layer: usize| half_widths[layer];
    let mut xs = vec![0.0; last + 1];
    for gap in 0..last {
        let widest = connections
            .iter()
            .filter(|&&(_, to, _)| gap_of(to) == gap)
            .map(|&(_, _, op)| label_size(op).0)
            .fold(0.0, f64::max);
        let width = half_width(gap) + half_width(gap + 1) + widest + 2.0 * CURVE_ROOM;
        xs[gap + 1] = xs[gap] + width.max(COL_GAP);
    }
    for b in &mut boxes {
        b.rect.x = xs[b.layer];
    }
    let label_x: Vec<f64> = (0..last)
        .map(|gap| (xs[gap] + half_width(gap) + xs[gap + 1] - half_width(gap + 1)) / 2.0)
        .collect();

    // Free heights of each column, where crossing edges pass.
    let slots: Vec<Vec<f64>> = (0..=last)
        .map(|layer| {
            let ys: Vec<f64> = boxes
                .iter()
                .filter(|b| b.layer == layer)
                .map(|b| b.rect.y)
                .collect();
            let (Some(&top), Some(&bottom)) = (ys.first(), ys.last()) else {
                return Vec::new();
            };
            let mut slots = vec![top - ROW_GAP / 2.0, bottom + ROW_GAP / 2.0];
            slots.extend(ys.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            slots
        })
        .collect();
    // The path from `from` through every column strictly between its layer and
    // `to_layer`, ending at `target`.
    let route = |from: usize, to_layer: usize, target: (f64, f64)| {
        let a = &boxes[from];
        let start = (a.rect.x + a.rect.w / 2.0, a.rect.y);
        let mut path = EdgePath::new(start);
        for layer in a.layer + 1..to_layer {
            let x = xs[layer];
            let wanted = lerp(start, target, x);
            let y = slots[layer]
                .iter()
                .copied()
                .min_by(|p, q| (p - wanted).abs().total_cmp(&(q - wanted).abs()))
                .unwrap_or(wanted);
            path.curve_to((x, y));
        }
        path
    };

    // Op labels: stacked per gap, ordered by where their edges would cross the gap.
    let mut op_edges: Vec<OpEdge<'_>> = connections
        .iter()
        .map(|&(from, to, op)| {
            let b = &boxes[to];
            let end = (b.rect.x - b.rect.w / 2.0, b.rect.y);
            let x = label_x.get(gap_of(to)).copied().unwrap_or(end.0);
            let path = route(from, b.layer, end);
            let last_point = path.points[path.points.len() - 1];
            let (w, h) = label_size(op);
            OpEdge {
                from,
                to,
                op,
                label: Rect {
                    x,
                    y: lerp(last_point, end, x),
                    w,
                    h,
                },
                path,
            }
        })
        .collect();
    for gap in 0..last {
        let mut members: Vec<usize> = (0..op_edges.len())
            .filter(|&e| gap_of(op_edges[e].to) == gap)
            .collect();
        members.sort_by(|&p, &q| {
            let key = |e: &OpEdge<'_>| (e.label.y, boxes[e.to].rect.y, boxes[e.from].rect.y);
            let (kp, kq) = (key(&op_edges[p]), key(&op_edges[q]));
            kp.0.total_cmp(&kq.0)
                .then(kp.1.total_cmp(&kq.1))
                .then(kp.2.total_cmp(&kq.2))
                .then(p.cmp(&q))
        });
        stack(&mut op_edges, &members);
    }
    for e in &mut op_edges {
        let b = &boxes[e.to];
        let l = e.label;
        e.path.curve_to((l.x - l.w / 2.0, l.y));
        e.path.line_to((l.x + l.w / 2.0, l.y));
        e.path.curve_to((b.rect.x - b.rect.w / 2.0, b.rect.y));
    }

    let out = &boxes[total];
    let out_port = (out.rect.x - out.rect.w / 2.0, out.rect.y);
    let concat_edges = cell
        .concat
        .iter()
        .filter(|&&i| i < total)
        .map(|&i| {
            let mut path = route(i, out.layer, out_port);
            path.curve_to(out_port);
            path
        })
        .collect();
    Layout {
        boxes,
        op_edges,
        concat_edges,
    }
}

/// Moves the labels `members` (sorted top to bottom) apart vertically so that no two
/// overlap, keeping their order and, on average, their heights.
fn stack(edges: &mut [OpEdge<'_>], members: &[usize]) {
    if members.is_empty() {
        return;
    }
    let wanted: Vec<f64> = members.iter().map(|&e| edges[e].label.y).collect();
    let mut placed: Vec<f64> = Vec::with_capacity(members.len());
    for (i, &e) in members.iter().enumerate() {
        let y = match placed.last() {
            Some(&prev) => {
                let min_gap = (edges[members[i - 1]].label.h + edges[e].label.h) / 2.0 + LABEL_GAP;
                wanted[i].max(prev + min_gap)
            }
            None => wanted[i],
        };
        placed.push(y);
    }
    let shift = (wanted.iter().sum::<f64>() - placed.iter().sum::<f64>()) / members.len() as f64;
    for (&e, y) in members.iter().zip(placed) {
        edges[e].label.y = y + shift;
    }
}

/// The height at `x` of the straight line through `a` and `b`.
fn lerp(a: (f64, f64), b: (f64, f64), x: f64) -> f64 {
    if (b.0 - a.0).abs() < 1e-9 {
        (a.1 + b.1) / 2.0
    } else {
        let t = ((x - a.0) / (b.0 - a.0)).clamp(0.0, 1.0);
        a.1 + t * (b.1 - a.1)
    }
}

fn draw_cell(cell: &CellGenotype, title: &str) -> Drawing {
    let layout = layout(cell);
    let mut bbox = BBox::empty();
    let mut edge_svg = String::new();
    let mut label_svg = String::new();
    let arrow = "fill=\"none\" stroke=\"#444\" stroke-width=\"1.5\" marker-end=\"url(#arrow)\"";
    for e in &layout.op_edges {
        e.path.add_to(&mut bbox);
        edge_svg.push_str(&format!(
            "<path class=\"edge\" d=\"{}\" {arrow}/>\n",
            e.path.svg()
        ));
        let r = e.label;
        bbox.add_rect(&r);
        label_svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\" fill-opacity=\"0.9\"/>\n\
             <text class=\"op\" x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" dominant-baseline=\"central\">{}</text>\n",
            num(r.x - r.w / 2.0),
            num(r.y - r.h / 2.0),
            num(r.w),
            num(r.h),
            num(r.x),
            num(r.y),
            OP_FONT,
            xml_escape(e.op)
        ));
    }
    for path in &layout.concat_edges {
        path.add_to(&mut bbox);
        edge_svg.push_str(&format!(
            "<path class=\"concat\" d=\"{}\" {arrow}/>\n",
            path.svg()
        ));
    }

    let mut node_svg = String::new();
    for node in &layout.boxes {
        let r = node.rect;
        bbox.add_rect(&r);
        node_svg.push_str(&format!(
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\" fill=\"{}\" stroke=\"#333\" stroke-width=\"1.5\"/>\n\
             <text class=\"node\" x=\"{}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" dominant-baseline=\"central\">{}</text>\n",
            num(r.x - r.w / 2.0),
            num(r.y - r.h / 2.0),
            num(r.w),
            num(r.h),
            node.fill,
            num(r.x),
            num(r.y),
            NODE_FONT,
            xml_escape(&node.label)
        ));
    }

    let mut body = String::from("<g class=\"cell\">\n");
    if !title.is_empty() {
        let y = bbox.min_y - 14.0;
        body.push_str(&format!(
            "<text class=\"title\" x=\"{}\" y=\"{}\" font-size=\"{}\" font-weight=\"bold\">{}</text>\n",
            num(bbox.min_x),
            num(y),
            TITLE_FONT,
            xml_escape(title)
        ));
        let width = text_width(title, TITLE_FONT);
        bbox.add_point((bbox.min_x + width, y - TITLE_FONT));
    }
    body.push_str(&edge_svg);
    body.push_str(&node_svg);
    body.push_str(&label_svg);
    body.push_str("</g>\n");
    Drawing { body, bbox }
}

/// Node boxes (x still 0): the cell's nodes in DARTS order, then the output. Inputs
/// are in layer 0, an intermediate node one layer right of its rightmost (earlier)
/// source, the output right of everything; each layer is centred on y = 0.
fn layout_nodes(cell: &CellGenotype) -> Vec<NodeBox> {
    let total = cell.num_nodes();
    let mut layers = vec![0usize; total];
    for (k, conns) in cell.nodes.iter().enumerate() {
        let node = cell.inputs + k;
        layers[node] = 1 + conns
            .iter()
            .filter(|c| c.input < node)
            .map(|c| layers[c.input])
            .max()
            .unwrap_or(0);
    }
    let out_layer = layers.iter().copied().max().unwrap_or(0) + 1;
    layers.push(out_layer);

    let mut boxes: Vec<NodeBox> = layers
        .iter()
        .enumerate()
        .map(|(i, &layer)| {
            let (label, fill) = if i < cell.inputs {
                (node_label(i, cell.inputs), INPUT_FILL)
            } else if i < total {
                (node_label(i, cell.inputs), NODE_FILL)
            } else {
                (OUTPUT_LABEL.to_owned(), OUTPUT_FILL)
            };
            let w = (text_width(&label, NODE_FONT) + 18.0).max(BOX_H);
            NodeBox {
                rect: Rect {
                    x: 0.0,
                    y: 0.0,
                    w,
                    h: BOX_H,
                },
                layer,
                label,
                fill,
            }
        })
        .collect();
    for layer in 0..=out_layer {
        let column: Vec<usize> = (0..boxes.len())
            .filter(|&i| boxes[i].layer == layer)
            .collect();
        let middle = (column.len() as f64 - 1.0) / 2.0;
        for (row, &i) in column.iter().enumerate() {
            boxes[i].rect.y = (row as f64 - middle) * ROW_GAP;
        }
    }
    boxes
}

fn svg_document(bbox: &BBox, title: &str, body: &str) -> String {
    let bbox = if bbox.min_x.is_finite() {
        *bbox
    } else {
        BBox {
            min_x: 0.0,
            min_y: 0.0,
            max_x: 0.0,
            max_y: 0.0,
        }
    };
    let (x, y) = (bbox.min_x - MARGIN, bbox.min_y - MARGIN);
    let (w, h) = (
        bbox.max_x - bbox.min_x + 2.0 * MARGIN,
        bbox.max_y - bbox.min_y + 2.0 * MARGIN,
    );
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"{} {} {} {}\" \
         font-family=\"Helvetica, Arial, sans-serif\">\n",
        w.ceil(),
        h.ceil(),
        num(x),
        num(y),
        w.ceil(),
        h.ceil()
    ));
    if !title.is_empty() {
        out.push_str(&format!("<title>{}</title>\n", xml_escape(title)));
    }
    out.push_str(
        "<defs>\n<marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" \
         markerWidth=\"8\" markerHeight=\"8\" orient=\"auto\">\n\
         <path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#444\"/>\n</marker>\n</defs>\n",
    );
    out.push_str(&format!(
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>\n",
        num(x),
        num(y),
        w.ceil(),
        h.ceil()
    ));
    out.push_str(body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use entrannas_cell::{Connection, darts_v1, darts_v2, pc_darts};

    /// Checks that `svg` is well-formed XML (balanced tags, quoted attributes, escaped
    /// text) with an `<svg>` root; returns the element names in document order.
    fn well_formed(svg: &str) -> Vec<String> {
        let mut rest = svg
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .expect("XML declaration");
        let mut stack: Vec<String> = Vec::new();
        let mut elements = Vec::new();
        loop {
            let lt = rest.find('<').unwrap_or(rest.len());
            let text = &rest[..lt];
            assert!(!text.contains('>'), "raw > in text {text:?}");
            for (i, _) in text.match_indices('&') {
                let entity = &text[i..text[i..].find(';').map_or(text.len(), |j| i + j + 1)];
                assert!(
                    ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
                    "bad entity in {text:?}"
                );
            }
            if !stack.is_empty() || !text.trim().is_empty() {
                assert!(
                    !stack.is_empty() || lt == rest.len(),
                    "text outside the root: {text:?}"
                );
            }
            rest = &rest[lt..];
            if rest.is_empty() {
                break;
            }
            // A tag: find its end outside quotes.
            let mut quote = None;
            let end = rest
                .char_indices()
                .find(|&(_, c)| match quote {
                    Some(q) if c == q => {
                        quote = None;
                        false
                    }
                    Some(_) => false,
                    None if c == '"' => {
                        quote = Some(c);
                        false
                    }
                    None => c == '>',
                })
                .map(|(i, _)| i)
                .expect("unterminated tag");
            let tag = &rest[1..end];
            rest = &rest[end + 1..];
            assert!(!tag.contains('<'), "< inside tag {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
                if stack.is_empty() {
                    assert!(rest.trim().is_empty(), "content after the root");
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name = tag.split_whitespace().next().expect("tag name").to_owned();
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in {tag}"
            );
            if stack.is_empty() {
                assert_eq!(name, "svg", "root element");
                assert!(elements.is_empty(), "two root elements");
            }
            elements.push(name.clone());
            if !self_closing {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "unclosed {stack:?}");
        elements
    }

    /// The op labels of an SVG as `(x, y, text)`.
    fn op_labels(svg: &str) -> Vec<(f64, f64, String)> {
        svg.match_indices("<text class=\"op\"")
            .map(|(i, _)| {
                let tag = &svg[i..];
                let attr = |name: &str| -> f64 {
                    let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                    let len = tag[start..].find('"').unwrap();
                    tag[start..start + len].parse().unwrap()
                };
                let open = tag.find('>').unwrap() + 1;
                let close = tag.find("</text>").unwrap();
                (attr("x"), attr("y"), tag[open..close].to_owned())
            })
            .collect()
    }

    fn overlap(a: &Rect, b: &Rect) -> f64 {
        let ox = (a.w + b.w) / 2.0 - (a.x - b.x).abs();
        let oy = (a.h + b.h) / 2.0 - (a.y - b.y).abs();
        if ox > 0.0 && oy > 0.0 { ox * oy } else { 0.0 }
    }

    #[test]
    fn darts_v2_normal_cell_svg() {
        let g = darts_v2();
        let svg = cell_svg(&g.normal, "DARTS_V2 normal");
        let elements = well_formed(&svg);
        let root = svg.lines().nth(1).unwrap();
        for attr in [
            "xmlns=\"http://www.w3.org/2000/svg\"",
            "viewBox=\"",
            "width=\"",
            "height=\"",
        ] {
            assert!(root.contains(attr), "{root} lacks {attr}");
        }
        // 8 op labels + c_{k-2}, c_{k-1}, 0..3, c_{k} + the title.
        assert_eq!(svg.matches("<text").count(), 8 + 7 + 1);
        assert_eq!(elements.iter().filter(|e| *e == "text").count(), 16);
        let mut labels: Vec<String> = op_labels(&svg).into_iter().map(|l| l.2).collect();
        labels.sort();
        let mut ops: Vec<String> = g.normal.connections().map(|(_, c)| c.op.clone()).collect();
        ops.sort();
        assert_eq!(labels, ops);
        // 8 op arrows and 4 concat arrows.
        assert_eq!(svg.matches("<path class=\"edge\"").count(), 8);
        assert_eq!(svg.matches("<path class=\"concat\"").count(), 4);
        for label in [
            "c_{k-2}",
            "c_{k-1}",
            ">0<",
            ">3<",
            "c_{k}",
            "DARTS_V2 normal",
        ] {
            assert!(svg.contains(label), "missing {label}");
        }
        assert!(
            !svg.contains("href") && !svg.contains("https:"),
            "external resource"
        );
    }

    #[test]
    fn op_labels_do_not_overlap_in_published_cells() {
        for g in [darts_v1(), darts_v2(), pc_darts()] {
            for (kind, cell) in g.cells() {
                let labels = op_labels(&cell_svg(cell, ""));
                assert_eq!(labels.len(), 8);
                for (i, a) in labels.iter().enumerate() {
                    for b in &labels[i + 1..] {
                        let ra = Rect {
                            x: a.0,
                            y: a.1,
                            w: text_width(&a.2, OP_FONT),
                            h: OP_FONT,
                        };
                        let rb = Rect {
                            x: b.0,
                            y: b.1,
                            w: text_width(&b.2, OP_FONT),
                            h: OP_FONT,
                        };
                        assert_eq!(overlap(&ra, &rb), 0.0, "{kind}: {a:?} overlaps {b:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn layers_go_left_to_right() {
        let cell = darts_v2().normal;
        let layout = layout(&cell);
        let layers: Vec<usize> = layout.boxes.iter().map(|b| b.layer).collect();
        // Inputs, nodes 2-4 from the inputs, node 5 from node 2, then the output.
        assert_eq!(layers, vec![0, 0, 1, 1, 1, 2, 3]);
        for pair in layout.boxes.windows(2) {
            if pair[0].layer < pair[1].layer {
                assert!(pair[0].rect.x < pair[1].rect.x);
            }
        }
        // Each label lies between its source's and its target's columns, and no label
        // overlaps a node box.
        for e in &layout.op_edges {
            let (a, b) = (&layout.boxes[e.from].rect, &layout.boxes[e.to].rect);
            assert!(a.x < e.label.x && e.label.x < b.x);
            for node in &layout.boxes {
                assert_eq!(
                    overlap(&e.label, &node.rect),
                    0.0,
                    "{} on {}",
                    e.op,
                    node.label
                );
            }
        }
        // The edge from c_{k-2} to node 3 (layer 2) passes column 1 between nodes.
        let skip = layout
            .op_edges
            .iter()
            .find(|e| e.from == 0 && e.to == 5)
            .unwrap();
        let (x, y) = skip.path.points[1];
        assert_eq!(x, layout.boxes[2].rect.x);
        assert!(
            layout.boxes[2..5]
                .iter()
                .all(|b| (b.rect.y - y).abs() >= ROW_GAP / 2.0 - 1e-9)
        );
    }

    #[test]
    fn nodes_are_labelled_from_the_inputs_then_from_0() {
        assert_eq!(node_label(0, 2), "c_{k-2}");
        assert_eq!(node_label(1, 2), "c_{k-1}");
        assert_eq!(node_label(2, 2), "0");
        assert_eq!(node_label(5, 2), "3");
        assert_eq!(node_label(0, 3), "c_{k-3}");
        assert_eq!(node_label(4, 3), "1");
    }

    #[test]
    fn text_is_escaped_and_other_input_counts_are_labelled() {
        let cell = CellGenotype {
            inputs: 3,
            nodes: vec![vec![
                Connection::new(0, "a<b&\"c'"),
                Connection::new(2, "x"),
            ]],
            concat: vec![3],
        };
        let svg = cell_svg(&cell, "<T & 'q'>");
        well_formed(&svg);
        assert!(svg.contains("a&lt;b&amp;&quot;c&apos;"));
        assert!(svg.contains("&lt;T &amp; &apos;q&apos;&gt;"));
        for label in ["c_{k-3}", "c_{k-2}", "c_{k-1}"] {
            assert!(svg.contains(label), "missing {label}");
        }
        let dot = cell_dot(&cell, "t\"\\");
        assert!(dot.contains("n0 -> n3 [label=\"a<b&\\\"c'\""), "{dot}");
        assert!(dot.contains("label=\"t\\\"\\\\\""), "{dot}");
    }

    #[test]
    fn parallel_edges_get_separate_curves_and_labels() {
        let cell = CellGenotype {
            inputs: 1,
            nodes: vec![vec![
                Connection::new(0, "sep_conv_3x3"),
                Connection::new(0, "max_pool_3x3"),
                Connection::new(0, "skip_connect"),
            ]],
            concat: vec![1],
        };
        let svg = cell_svg(&cell, "");
        well_formed(&svg);
        let paths: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<path class=\"edge\""))
            .collect();
        assert_eq!(paths.len(), 3);
        assert!(paths[0] != paths[1] && paths[1] != paths[2] && paths[0] != paths[2]);
        let labels = op_labels(&svg);
        assert!(
            labels[0].1 < labels[1].1 && labels[1].1 < labels[2].1,
            "{labels:?}"
        );
    }

    #[test]
    fn invalid_cells_are_drawn_without_panicking() {
        let cells = [
            CellGenotype {
                inputs: 0,
                nodes: vec![],
                concat: vec![],
            },
            CellGenotype {
                inputs: 2,
                nodes: vec![
                    vec![],
                    vec![Connection::new(7, "x"), Connection::new(3, "y")],
                ],
                concat: vec![0, 9, 2, 2],
            },
        ];
        for cell in &cells {
            well_formed(&cell_svg(cell, "bad"));
            assert!(cell_dot(cell, "bad").starts_with("digraph"));
        }
        assert!(!cell_dot(&cells[1], "").contains("n7"));
    }

    #[test]
    fn genotype_svg_puts_both_cells_in_one_document() {
        let svg = genotype_svg(&darts_v2());
        well_formed(&svg);
        assert_eq!(svg.matches("<text class=\"op\"").count(), 16);
        assert_eq!(svg.matches("<text class=\"title\"").count(), 2);
        assert_eq!(svg.matches("<marker").count(), 1);
        assert!(svg.contains("translate("));
    }

    #[test]
    fn dot_contains_every_edge() {
        let g = darts_v2();
        let dot = cell_dot(&g.normal, "normal");
        assert!(dot.starts_with("digraph cell {\n") && dot.ends_with("}\n"));
        assert_eq!(dot.matches('{').count() - dot.matches("c_{").count(), 1);
        assert!(dot.contains("rankdir=LR"));
        assert!(dot.contains("label=\"normal\""));
        for (node, c) in g.normal.connections() {
            let edge = format!("  n{} -> n{node} [label=\"{}\"", c.input, c.op);
            assert!(dot.contains(&edge), "missing {edge}");
        }
        for n in 2..6 {
            assert!(dot.contains(&format!("  n{n} -> out [")));
        }
        assert_eq!(dot.matches(" -> ").count(), 12);
        assert!(dot.contains("n0 [label=\"c_{k-2}\""));
        assert!(dot.contains("n5 [label=\"3\""));
        assert!(dot.contains("out [label=\"c_{k}\""));

        let both = genotype_dot(&g);
        assert!(
            both.contains("subgraph cluster_normal") && both.contains("subgraph cluster_reduce")
        );
        assert!(both.contains("reduce_n0 -> reduce_n2 [label=\"max_pool_3x3\""));
        assert_eq!(both.matches(" -> ").count(), 24);
    }

    proptest::proptest! {
        #[test]
        fn random_cells_draw_well_formed_svg(cell in entrannas_cell::testing::arb_cell()) {
            let svg = cell_svg(&cell, "random");
            well_formed(&svg);
            let connections = cell.connections().count();
            proptest::prop_assert_eq!(op_labels(&svg).len(), connections);
            proptest::prop_assert_eq!(
                svg.matches("<text").count(),
                connections + cell.num_nodes() + 1 + 1
            );
            let dot = cell_dot(&cell, "random");
            proptest::prop_assert_eq!(dot.matches(" -> ").count(), connections + cell.concat.len());
        }
    }
}
