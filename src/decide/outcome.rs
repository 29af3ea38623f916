//! Why a decision stopped: `Stop`, a refusal of the input (`Reject`) or a
//! fault of the environment (`Fault`), each with the exact reason for the
//! operator (the codes themselves are `decide::reject`). Data only: it
//! decides nothing and never touches the database, files or the clock.

use crate::decide::reject::{Fault, Reject};

/// Why a decision stopped: a refusal of the input, or a fault of the
/// environment. Both carry the exact reason for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    Reject(Reject, String),
    Fault(Fault, String),
}

impl Stop {
    pub(crate) fn reject(r: Reject, why: impl Into<String>) -> Stop {
        Stop::Reject(r, why.into())
    }
}

impl From<(Reject, String)> for Stop {
    fn from((r, why): (Reject, String)) -> Stop {
        Stop::Reject(r, why)
    }
}
