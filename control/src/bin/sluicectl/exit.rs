//! sluicectl's exit statuses, so that a script can tell a mistake in its own command from an appliance it
//! cannot reach (documented in sluicectl(1) and docs/console.md).

// 0: the command did what it was asked: the appliance answered and accepted, the fleet agrees.
/// The appliance answered and refused (a bad node name, a refused reload), or a fleet check found the
/// appliances in disagreement or some of them failing.
pub(crate) const REFUSED: u8 = 1;
/// A usage error: bad arguments or option values, or a configuration file that cannot be read or is
/// invalid (clap's own usage errors exit with 2 as well).
pub(crate) const USAGE: u8 = 2;
/// No answer: the console socket is missing, refuses the connection, or the appliance did not answer in
/// time.
pub(crate) const UNREACHABLE: u8 = 3;

/// The statuses as the man page's EXIT STATUS section.
pub(crate) fn section() -> sluice_control::clidoc::Section {
    sluice_control::clidoc::exit_status(&[
        (0, "The command did what it was asked: the appliance answered and accepted, the fleet agrees."),
        (REFUSED, "The appliance answered and refused (an unknown node, a refused reload), or a fleet command found the appliances in disagreement or some of them failing."),
        (USAGE, "A usage error: bad arguments or option values, or a configuration file that cannot be read or is invalid."),
        (UNREACHABLE, "No answer: the console socket is missing or refuses the connection, or the appliance did not answer within 10 s."),
    ])
}
