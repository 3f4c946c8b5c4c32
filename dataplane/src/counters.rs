//! Named counter sets: an enum whose variants index a counter array, with their names and meanings.

/// Declares `$name`, a `#[repr(u8)]` enum of counters with `ALL`, `COUNT`, `as_str` (the counter's name)
/// and `describe` (its meaning, also the variant's doc), and indexing of `[u64; COUNT]` by the enum.
macro_rules! named_counters {
    ($(#[$meta:meta])* $name:ident { $($v:ident => $s:literal: $doc:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $(#[doc = $doc] $v,)* }

        impl $name {
            /// Every counter, in index order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub const COUNT: usize = $name::ALL.len();
            /// The counter's name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            /// What it counts.
            pub fn describe(self) -> &'static str {
                match self { $($name::$v => $doc,)* }
            }
        }

        /// A counter array indexed by its counters: `counters[Counter::X]`.
        impl core::ops::Index<$name> for [u64; $name::COUNT] {
            type Output = u64;
            #[inline(always)]
            fn index(&self, c: $name) -> &u64 {
                &self[c as usize]
            }
        }

        impl core::ops::IndexMut<$name> for [u64; $name::COUNT] {
            #[inline(always)]
            fn index_mut(&mut self, c: $name) -> &mut u64 {
                &mut self[c as usize]
            }
        }
    };
}

pub(crate) use named_counters;
