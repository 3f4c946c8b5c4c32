//! Man pages and shell completions for `sluice`, `sluicectl` and `sluice-perf`, made from their clap
//! definitions, so that they always describe the options the binaries take. Each binary prints its own
//! (`sluice --man`, `sluicectl man`, `sluice-perf man`; `completions SHELL` likewise), and the package
//! build writes them to files (`scripts/package.sh`).

use std::io::{self, Write};

use clap::Command;
pub use clap_complete::Shell;

/// A man page section beyond the ones clap describes: its title, and roff text.
pub struct Section {
    pub title: &'static str,
    pub roff: String,
}

/// Exit statuses as a roff section: each status and what it means.
pub fn exit_status(statuses: &[(u8, &str)]) -> Section {
    let mut roff = String::new();
    for (code, meaning) in statuses {
        roff.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", escape(meaning)));
    }
    Section { title: "EXIT STATUS", roff }
}

/// A section of plain paragraphs.
pub fn paragraphs(title: &'static str, paras: &[&str]) -> Section {
    let roff = paras.iter().map(|p| format!(".PP\n{}\n", escape(p))).collect();
    Section { title, roff }
}

/// Writes `cmd`'s man page (section 1, its subcommands listed), then `extra`.
pub fn man(cmd: Command, extra: &[Section], out: &mut dyn Write) -> io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    out.write_all(&page)?;
    for s in extra {
        writeln!(out, ".SH \"{}\"", s.title)?;
        out.write_all(s.roff.as_bytes())?;
    }
    Ok(())
}

/// Writes `cmd`'s completion script for `shell`.
pub fn completions(shell: Shell, mut cmd: Command, out: &mut dyn Write) {
    let name = cmd.get_name().to_string();
    clap_complete::generate(shell, &mut cmd, name, out);
}

/// Text made safe for roff: backslashes doubled, and a line that starts with a control character escaped.
fn escape(s: &str) -> String {
    let s = s.replace('\\', "\\\\");
    s.lines()
        .map(|l| if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cmd() -> Command {
        Command::new("demo")
            .about("A demo tool")
            .arg(Arg::new("socket").long("socket").help("The console socket"))
            .arg(Arg::new("json").long("json").action(ArgAction::SetTrue))
            .subcommand(Command::new("status").about("Show the status"))
    }

    #[test]
    fn the_page_names_every_option_and_subcommand_and_the_extra_sections() {
        let mut out = Vec::new();
        let extra = [exit_status(&[(0, "done"), (3, "unreachable")]), paragraphs("FILES", &[".not a request"])];
        man(cmd(), &extra, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(page.starts_with(".ie \\n(.g .ds Aq") || page.contains(".TH demo 1"), "{page}");
        for want in ["\\-\\-socket", "\\-\\-json", "status", "Show the status", ".SH \"EXIT STATUS\"", "\\fB3\\fR"] {
            assert!(page.contains(want), "{want} missing:\n{page}");
        }
        assert!(page.contains("\\&.not a request"), "a line starting with a dot is escaped");
    }

    #[test]
    fn completions_know_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut out = Vec::new();
            completions(shell, cmd(), &mut out);
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("status") && text.contains("socket"), "{shell}: {text}");
        }
    }
}
