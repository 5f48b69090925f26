//! Pipelines, commands and operands (Go's `pipeline`, `command`, `operand`, `term`).

use minijinja::Value;

use super::{PResult, Parser, BUILTINS};
use crate::gotmpl::ast::{Arg, Command, Pipe};
use crate::gotmpl::lexer::T;
use crate::gotmpl::literal::{parse_number, string_value, unquote_char};

impl<'a> Parser<'a> {
    pub(super) fn pipeline(&mut self, ctx: &str, end: T) -> PResult<Pipe> {
        let first = self.peek_non_space();
        let mut pipe = Pipe {
            pos: first.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != T::Variable {
                break;
            }
            let save = self.i;
            self.next_non_space();
            let after = self.peek().typ;
            let next = self.peek_non_space();
            let name = self.val(&v).to_string();
            if next.typ == T::Assign || next.typ == T::Declare {
                pipe.is_assign = next.typ == T::Assign;
                self.next_non_space();
                pipe.decl.push(name.clone());
                self.vars.push(name);
                break;
            } else if next.typ == T::Char && self.val(&next) == "," {
                self.next_non_space();
                pipe.decl.push(name.clone());
                self.vars.push(name);
                if ctx == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        T::Variable | T::RightDelim | T::RightParen => continue,
                        _ => return self.err("range can only initialize variables".to_string()),
                    }
                }
                return self.err(format!("too many declarations in {ctx}"));
            } else {
                let _ = after;
                self.i = save;
                break;
            }
        }
        loop {
            let it = self.next_non_space();
            match it.typ {
                t if t == end => {
                    self.check_pipeline(&pipe, ctx)?;
                    return Ok(pipe);
                }
                T::Bool
                | T::CharConstant
                | T::Dot
                | T::Field
                | T::Identifier
                | T::Number
                | T::Nil
                | T::RawString
                | T::String
                | T::Variable
                | T::LeftParen => {
                    self.i -= 1;
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return self.unexpected(&it, ctx),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, ctx: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.err(format!("missing value for {ctx}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str(..))
            ) {
                return self.err(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next();
            match it.typ {
                T::Space => continue,
                T::RightDelim | T::RightParen => self.i -= 1,
                T::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err("empty command".to_string());
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != T::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == T::Field {
            let it = self.next();
            fields.push(self.val(&it)[1..].to_string());
        }
        Ok(Some(match node {
            Arg::Field(p, mut idents) => {
                idents.extend(fields);
                let _ = p;
                Arg::Field(chain_pos, idents)
            }
            Arg::Variable(p, mut idents) => {
                idents.extend(fields);
                let _ = p;
                Arg::Variable(chain_pos, idents)
            }
            Arg::Bool(..) | Arg::Str(..) | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                return self.err(format!(
                    "unexpected . after term {}",
                    crate::gofmt::quote(&node.to_string())
                ));
            }
            other => Arg::Chain(chain_pos, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let it = self.next_non_space();
        let v = self.val(&it);
        Ok(Some(match it.typ {
            T::Identifier => {
                if !BUILTINS.contains(&v) && !self.funcs.contains(v) {
                    return self.err(format!("function {} not defined", crate::gofmt::quote(v)));
                }
                Arg::Ident(it.pos, v.to_string())
            }
            T::Dot => Arg::Dot(it.pos),
            T::Nil => Arg::Nil(it.pos),
            T::Variable => {
                if !self.vars.iter().any(|x| x == v) {
                    return self.err(format!("undefined variable {}", crate::gofmt::quote(v)));
                }
                Arg::Variable(it.pos, vec![v.to_string()])
            }
            T::Field => Arg::Field(it.pos, vec![v[1..].to_string()]),
            T::Bool => Arg::Bool(it.pos, v == "true"),
            T::CharConstant => match unquote_char(v) {
                Ok(c) => Arg::Number(it.pos, v.to_string(), Value::from(c as i64)),
                Err(e) => return self.err(e),
            },
            T::Number => match parse_number(v) {
                Ok(n) => Arg::Number(it.pos, v.to_string(), n),
                Err(e) => return self.err(e),
            },
            T::LeftParen => {
                let p = self.nested(|p| p.pipeline("parenthesized pipeline", T::RightParen))?;
                Arg::Pipe(it.pos, Box::new(p))
            }
            T::String | T::RawString => match string_value(v) {
                Some(val) => Arg::Str(it.pos, v.to_string(), val),
                None => return self.err("invalid syntax".to_string()),
            },
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}
