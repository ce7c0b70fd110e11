//! Template and options-template records of v9 and IPFIX template sets, parsed into owned
//! `Template`s the receiver caches.
//!
//! A template is a list of fields (element id, length, enterprise number); IPFIX marks an
//! enterprise-specific element with the high bit of its id and a 4-byte enterprise number
//! after it, and a length of 65535 means variable length (the length precedes the value in
//! each data record). An IPFIX template with no field withdraws the template. Bytes at the
//! end of a set too short for another template are padding.

use super::super::{WireError, read_u16, read_u32};
use super::fields::{FieldKind, kind_of};

/// Length value of a variable-length IPFIX field.
pub const VARIABLE: u16 = 0xffff;

/// Fields per template accepted (a datagram cannot carry more anyway).
pub const MAX_FIELDS: usize = 1024;

/// One field of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Element id (enterprise bit cleared).
    pub id: u16,
    /// Length in a data record (`VARIABLE` for variable length).
    pub len: u16,
    /// Enterprise number (0 for IANA elements).
    pub enterprise: u32,
    /// Where its value goes.
    pub kind: FieldKind,
}

/// A (data or options) template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// Template id (≥ 256).
    pub id: u16,
    /// Fields in record order (scope fields first for options templates).
    pub fields: Vec<FieldSpec>,
    /// Number of scope fields (options templates; 0 otherwise).
    pub scope_fields: usize,
    /// Whether this is an options template.
    pub options: bool,
    /// Record length when every field has a fixed length.
    pub fixed_len: Option<usize>,
    /// The smallest record length (variable fields count as 1 byte).
    pub min_len: usize,
}

impl Template {
    fn new(id: u16, fields: Vec<FieldSpec>, scope_fields: usize, options: bool) -> Self {
        let mut fixed = Some(0usize);
        let mut min_len = 0usize;
        for f in &fields {
            if f.len == VARIABLE {
                fixed = None;
                min_len += 1;
            } else {
                min_len += usize::from(f.len);
                fixed = fixed.map(|n| n + usize::from(f.len));
            }
        }
        Template {
            id,
            fields,
            scope_fields,
            options,
            fixed_len: fixed,
            min_len,
        }
    }

    /// Whether this record withdraws template `id` (IPFIX, no fields).
    pub fn is_withdrawal(&self) -> bool {
        self.fields.is_empty()
    }
}

/// Iterates the templates of one template or options-template set body.
#[derive(Clone, Debug)]
pub struct Templates<'a> {
    rest: &'a [u8],
    ipfix: bool,
    options: bool,
    failed: bool,
}

/// The templates of a set body; `ipfix` selects the IPFIX encoding, `options` the
/// options-template layout.
pub fn templates(body: &[u8], ipfix: bool, options: bool) -> Templates<'_> {
    Templates {
        rest: body,
        ipfix,
        options,
        failed: false,
    }
}

impl Templates<'_> {
    fn parse_one(&mut self) -> Result<Template, WireError> {
        let b = self.rest;
        let id = read_u16(b, 0..2);
        if id < 256 {
            return Err(WireError::Malformed);
        }
        let (count, scope, mut at) = if !self.options {
            (usize::from(read_u16(b, 2..4)), 0usize, 4usize)
        } else if self.ipfix {
            if b.len() < 6 {
                return Err(WireError::Truncated);
            }
            let count = usize::from(read_u16(b, 2..4));
            let scope = usize::from(read_u16(b, 4..6));
            if scope > count || (count > 0 && scope == 0) {
                return Err(WireError::Malformed);
            }
            (count, scope, 6)
        } else {
            if b.len() < 6 {
                return Err(WireError::Truncated);
            }
            // v9: scope and option lengths in bytes, 4 bytes per field
            let scope_bytes = usize::from(read_u16(b, 2..4));
            let option_bytes = usize::from(read_u16(b, 4..6));
            if !scope_bytes.is_multiple_of(4) || !option_bytes.is_multiple_of(4) {
                return Err(WireError::Malformed);
            }
            ((scope_bytes + option_bytes) / 4, scope_bytes / 4, 6)
        };
        if count > MAX_FIELDS {
            return Err(WireError::Malformed);
        }
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            if b.len() < at + 4 {
                return Err(WireError::Truncated);
            }
            let raw = read_u16(b, at..at + 2);
            let len = read_u16(b, at + 2..at + 4);
            at += 4;
            let mut enterprise = 0;
            let mut id = raw;
            if self.ipfix && raw & 0x8000 != 0 {
                if b.len() < at + 4 {
                    return Err(WireError::Truncated);
                }
                enterprise = read_u32(b, at..at + 4);
                id = raw & 0x7fff;
                at += 4;
            }
            if len == 0 || (len == VARIABLE && !self.ipfix) {
                return Err(WireError::Malformed);
            }
            // v9 scope fields name scope types (system, interface, …), not elements
            let v9_scope = self.options && !self.ipfix && fields.len() < scope;
            fields.push(FieldSpec {
                id,
                len,
                enterprise,
                kind: if v9_scope {
                    FieldKind::Skip
                } else {
                    kind_of(id, enterprise)
                },
            });
        }
        self.rest = b.get(at..).unwrap_or(&[]);
        Ok(Template::new(id, fields, scope, self.options))
    }
}

impl Iterator for Templates<'_> {
    type Item = Result<Template, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // padding: fewer bytes than a template header, or all zero
        if self.rest.len() < 4 || self.rest.iter().all(|&b| b == 0) {
            return None;
        }
        match self.parse_one() {
            Ok(t) => Some(Ok(t)),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
