//! THREAD (RFC 5256 §3): the ORDEREDSUBJECT and REFERENCES algorithms, over what the
//! session gives of each message (sequence number, sent date, identifiers, base
//! subject), answering the codec's [`Thread`] lists.
//!
//! Pure. REFERENCES builds its tree in an arena (containers by index), so that hostile
//! References fields can make it wide or deep but never recurse: every walk over the
//! tree is a loop with its own stack.

use std::collections::HashMap;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::core::Vec2;
use imap_codec::imap_types::extensions::thread::Thread;

use crate::imap::sort::BaseSubject;
use crate::imap::sort::base_subject;
use crate::imap::sort::casemap;
use crate::mail::header_index::HeaderIndex;

/// The most message identifiers of one References field that are followed; the last
/// ones, the nearest ancestors, are kept. Bounds the work a hostile field causes.
const MAX_REFERENCES: usize = 256;

/// The deepest branching an answer shows; deeper subtrees are flattened.
const MAX_NESTING: usize = 64;

/// One message as THREAD sees it.
#[derive(Clone, Debug)]
pub struct Threadable {
    /// Message sequence number.
    pub seq: u32,
    /// The sent date (`Date:`), or INTERNALDATE when there is none (RFC 5256 §2.2),
    /// in seconds since the epoch.
    pub sent: i64,
    /// `Message-ID:`, without its angle brackets.
    pub message_id: Option<String>,
    /// The parents: `References:`, or the first identifier of `In-Reply-To:` when
    /// References has none, oldest first.
    pub references: Vec<String>,
    /// The base subject, through the comparator (RFC 5256 §2.1).
    pub subject: String,
    /// Whether the subject marks a reply or a forward.
    pub reply_or_forward: bool,
}

impl Threadable {
    /// A message from its header index.
    pub fn of(seq: u32, arrival: i64, header: &HeaderIndex<&str>) -> Threadable {
        let ids = |name| msg_ids(header.values(name).next().unwrap_or_default());
        let mut references = ids("references");
        if references.is_empty() {
            references = ids("in-reply-to").into_iter().take(1).collect();
        }
        let start = references.len().saturating_sub(MAX_REFERENCES);
        references.drain(..start);
        let BaseSubject {
            text,
            reply_or_forward,
        } = base_subject(header.values("subject").next().unwrap_or_default());
        Threadable {
            seq,
            sent: header.sent.map_or(arrival, |sent| sent.seconds),
            message_id: ids("message-id").into_iter().next(),
            references,
            subject: casemap(&text),
            reply_or_forward,
        }
    }
}

/// The `<…>` message identifiers in a field value, brackets removed; those without
/// `@` are not message identifiers and are skipped.
pub fn msg_ids(value: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('>') else {
            break;
        };
        let id: String = after[..close].split_whitespace().collect();
        if id.contains('@') {
            ids.push(id);
        }
        rest = &after[close + 1..];
    }
    ids
}

/// THREAD=ORDEREDSUBJECT: messages grouped by base subject, each group a thread of
/// its first message (by sent date) with the others as its children; threads ordered
/// by their first message's date.
pub fn ordered_subject(messages: &[Threadable]) -> Vec<Thread> {
    let mut order: Vec<&Threadable> = messages.iter().collect();
    order.sort_by(|a, b| {
        (a.subject.as_str(), a.sent, a.seq).cmp(&(b.subject.as_str(), b.sent, b.seq))
    });
    let mut groups: Vec<Vec<&Threadable>> = Vec::new();
    for message in order {
        match groups.last_mut() {
            Some(group) if group.first().is_some_and(|f| f.subject == message.subject) => {
                group.push(message);
            }
            _ => groups.push(vec![message]),
        }
    }
    groups.sort_by_key(|group| group.first().map(|first| (first.sent, first.seq)));
    groups
        .into_iter()
        .filter_map(|group| {
            let (first, rest) = group.split_first()?;
            let children: Vec<Thread> = rest.iter().map(|m| leaf(m.seq)).collect();
            Some(members(vec![first.seq], children))
        })
        .collect()
}

/// A container of the REFERENCES tree: a message, or a dummy standing for one that
/// was referred to but is not here.
#[derive(Clone, Debug, Default)]
struct Container {
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The REFERENCES tree under construction (RFC 5256 §3, REFERENCES steps 1–6).
struct Tree<'m> {
    messages: &'m [Threadable],
    containers: Vec<Container>,
    by_id: HashMap<&'m str, usize>,
}

/// THREAD=REFERENCES.
pub fn references(messages: &[Threadable]) -> Vec<Thread> {
    let mut tree = Tree {
        messages,
        containers: Vec::new(),
        by_id: HashMap::new(),
    };
    for index in 0..messages.len() {
        tree.link(index);
    }
    let roots: Vec<usize> = (0..tree.containers.len())
        .filter(|&c| tree.containers[c].parent.is_none())
        .collect();
    let mut roots = tree.prune(roots);
    tree.sort_siblings(&mut roots);
    let mut roots = tree.merge_subjects(roots);
    tree.sort_all(&mut roots);
    roots
        .iter()
        .filter_map(|&root| tree.render(root, 0))
        .collect()
}

impl<'m> Tree<'m> {
    fn new_container(&mut self) -> usize {
        self.containers.push(Container::default());
        self.containers.len() - 1
    }

    /// The container of a message identifier, made (empty) on first mention.
    fn container_of(&mut self, id: &'m str) -> usize {
        if let Some(&container) = self.by_id.get(id) {
            return container;
        }
        let container = self.new_container();
        self.by_id.insert(id, container);
        container
    }

    /// Step 1: the message's container (a duplicate Message-ID gets a fresh one), the
    /// links between its references, and its own parent.
    fn link(&mut self, index: usize) {
        let message = &self.messages[index];
        let own = match message.message_id.as_deref() {
            Some(id) => match self.by_id.get(id) {
                Some(&c) if self.containers[c].message.is_none() => c,
                Some(_) => self.new_container(),
                None => self.container_of(id),
            },
            None => self.new_container(),
        };
        self.containers[own].message = Some(index);
        let references: Vec<usize> = message
            .references
            .iter()
            .map(|id| self.container_of(id))
            .collect();
        for pair in references.windows(2) {
            if let [parent, child] = *pair
                && self.containers[child].parent.is_none()
                && !self.is_ancestor(child, parent)
            {
                self.attach(parent, child);
            }
        }
        // The message's own word on its parent wins over what others presumed.
        self.detach(own);
        if let Some(&parent) = references.last()
            && !self.is_ancestor(own, parent)
        {
            self.attach(parent, own);
        }
    }

    /// Whether `ancestor` is `node` or above it.
    fn is_ancestor(&self, ancestor: usize, node: usize) -> bool {
        let mut at = Some(node);
        while let Some(current) = at {
            if current == ancestor {
                return true;
            }
            at = self.containers[current].parent;
        }
        false
    }

    fn attach(&mut self, parent: usize, child: usize) {
        self.containers[child].parent = Some(parent);
        self.containers[parent].children.push(child);
    }

    fn detach(&mut self, child: usize) {
        if let Some(parent) = self.containers[child].parent.take() {
            self.containers[parent].children.retain(|&c| c != child);
        }
    }

    /// Step 3: empty dummies go; a dummy's children take its place, except a root
    /// dummy with more than one child, which stays.
    fn prune(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let mut kept_roots = Vec::new();
        for root in roots {
            let mut pending = vec![root];
            while let Some(node) = pending.pop() {
                let children = std::mem::take(&mut self.containers[node].children);
                let mut kept = Vec::new();
                let mut queue: Vec<usize> = children.into_iter().rev().collect();
                while let Some(child) = queue.pop() {
                    let c = &self.containers[child];
                    if c.message.is_none() {
                        let grandchildren = c.children.clone();
                        queue.extend(grandchildren.into_iter().rev());
                    } else {
                        kept.push(child);
                        pending.push(child);
                    }
                }
                for &child in &kept {
                    self.containers[child].parent = Some(node);
                }
                self.containers[node].children = kept;
            }
            let c = &self.containers[root];
            match (c.message, c.children.len()) {
                (None, 0) => {}
                (None, 1) => {
                    let only = c.children[0];
                    self.containers[only].parent = None;
                    kept_roots.push(only);
                }
                _ => kept_roots.push(root),
            }
        }
        kept_roots
    }

    /// The date and sequence number a container sorts by: its message's, or its first
    /// child's for a dummy.
    fn sort_key(&self, container: usize) -> (i64, u32) {
        let mut at = container;
        loop {
            let c = &self.containers[at];
            if let Some(index) = c.message {
                let message = &self.messages[index];
                return (message.sent, message.seq);
            }
            match c.children.first() {
                Some(&first) => at = first,
                None => return (i64::MAX, u32::MAX),
            }
        }
    }

    fn sort_siblings(&mut self, siblings: &mut [usize]) {
        for &node in siblings.iter() {
            let mut children = std::mem::take(&mut self.containers[node].children);
            children.sort_by_key(|&c| self.sort_key(c));
            self.containers[node].children = children;
        }
        siblings.sort_by_key(|&c| self.sort_key(c));
    }

    /// Step 6: every set of siblings by date, bottom-up enough that a dummy's first
    /// child is its earliest.
    fn sort_all(&mut self, roots: &mut [usize]) {
        let mut order = Vec::new();
        let mut pending: Vec<usize> = roots.to_vec();
        while let Some(node) = pending.pop() {
            order.push(node);
            pending.extend(self.containers[node].children.iter().copied());
        }
        for &node in order.iter().rev() {
            let mut children = std::mem::take(&mut self.containers[node].children);
            children.sort_by_key(|&c| self.sort_key(c));
            self.containers[node].children = children;
        }
        roots.sort_by_key(|&c| self.sort_key(c));
    }

    fn subject_of(&self, container: usize) -> Option<(&'m str, bool)> {
        let messages = self.messages;
        let c = &self.containers[container];
        let index = c
            .message
            .or_else(|| self.containers[*c.children.first()?].message)?;
        let message = &messages[index];
        (!message.subject.is_empty())
            .then_some((message.subject.as_str(), message.reply_or_forward))
    }

    fn is_dummy(&self, container: usize) -> bool {
        self.containers[container].message.is_none()
    }

    /// Step 5: roots with the same base subject gathered.
    fn merge_subjects(&mut self, roots: Vec<usize>) -> Vec<usize> {
        let mut table: HashMap<&'m str, usize> = HashMap::new();
        for &root in &roots {
            let Some((subject, reply)) = self.subject_of(root) else {
                continue;
            };
            match table.get(subject).copied() {
                None => {
                    table.insert(subject, root);
                }
                Some(held) if !self.is_dummy(held) => {
                    let held_reply = self.subject_of(held).is_some_and(|(_, r)| r);
                    if self.is_dummy(root) || (held_reply && !reply) {
                        table.insert(subject, root);
                    }
                }
                Some(_) => {}
            }
        }
        let mut out: Vec<usize> = Vec::new();
        let mut gone = vec![false; self.containers.len()];
        for &root in &roots {
            if gone[root] {
                continue;
            }
            let Some((subject, reply)) = self.subject_of(root) else {
                out.push(root);
                continue;
            };
            let Some(held) = table.get(subject).copied().filter(|&h| h != root) else {
                out.push(root);
                continue;
            };
            let held_reply = self.subject_of(held).is_some_and(|(_, r)| r);
            if self.is_dummy(held) && self.is_dummy(root) {
                let children = std::mem::take(&mut self.containers[root].children);
                for child in children {
                    self.attach(held, child);
                }
            } else if self.is_dummy(held) || (!held_reply && reply) {
                self.attach(held, root);
            } else {
                let dummy = self.new_container();
                gone.push(false);
                self.attach(dummy, held);
                self.attach(dummy, root);
                table.insert(subject, dummy);
                if let Some(slot) = out.iter_mut().find(|slot| **slot == held) {
                    *slot = dummy;
                } else {
                    // The held root comes later in the order: it goes with the dummy.
                    gone[held] = true;
                    out.push(dummy);
                }
            }
            gone[root] = true;
        }
        out
    }

    /// A container as a thread: a chain of single children is one run of numbers.
    /// Below [`MAX_NESTING`] branchings a subtree is one run in tree order, so that
    /// no hostile References can make the answer (or its drop) recurse without bound.
    fn render(&self, container: usize, nesting: usize) -> Option<Thread> {
        let c = &self.containers[container];
        if nesting >= MAX_NESTING {
            return Some(members(self.run(container), Vec::new()));
        }
        let Some(index) = c.message else {
            let children: Vec<Thread> = c
                .children
                .iter()
                .filter_map(|&child| self.render(child, nesting + 1))
                .collect();
            if children.len() < 2 {
                return children.into_iter().next();
            }
            return Vec2::try_from(children)
                .ok()
                .map(|answers| Thread::Nested { answers });
        };
        let mut chain = vec![self.messages[index].seq];
        let mut at = container;
        while let [only] = self.containers[at].children[..]
            && let Some(index) = self.containers[only].message
        {
            chain.push(self.messages[index].seq);
            at = only;
        }
        let children: Vec<Thread> = self.containers[at]
            .children
            .iter()
            .filter_map(|&child| self.render(child, nesting + 1))
            .collect();
        Some(members(chain, children))
    }

    /// The messages of a subtree in tree order.
    fn run(&self, container: usize) -> Vec<u32> {
        let mut seqs = Vec::new();
        let mut pending = vec![container];
        while let Some(node) = pending.pop() {
            let c = &self.containers[node];
            seqs.extend(c.message.map(|index| self.messages[index].seq));
            pending.extend(c.children.iter().rev().copied());
        }
        seqs
    }
}

fn leaf(seq: u32) -> Thread {
    members(vec![seq], Vec::new())
}

/// `(chain… answers…)`; numbers are never 0 (sequence numbers start at 1). A single
/// answer continues the chain.
fn members(mut chain: Vec<u32>, mut children: Vec<Thread>) -> Thread {
    let answers = match (children.len(), children.pop()) {
        (1, Some(Thread::Members { prefix, answers })) => {
            chain.extend(prefix.into_inner().into_iter().map(NonZeroU32::get));
            answers
        }
        (1, Some(Thread::Nested { answers })) => Some(answers),
        (_, last) => {
            children.extend(last);
            Vec2::try_from(children).ok()
        }
    };
    let prefix: Vec<NonZeroU32> = chain.into_iter().filter_map(NonZeroU32::new).collect();
    let prefix = Vec1::try_from(prefix).unwrap_or_else(|_| Vec1::from(NonZeroU32::MIN));
    Thread::Members { prefix, answers }
}

#[cfg(test)]
mod tests;
