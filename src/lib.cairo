//! Fulcrum: an automated margin protocol for Starknet.
//! The whole Cairo module tree is declared here so the architecture reads at a glance.

pub mod interfaces {
    pub mod ibridge;
    pub mod ierc20;
    pub mod igov_token;
    pub mod igovernance;
    pub mod igovernor;
    pub mod imargin;
    pub mod ioracle;
    pub mod iorders;
    pub mod iownable;
    pub mod ipausable;
    pub mod ipool;
    pub mod ipragma;
    pub mod ivault;
}

pub mod components {
    pub mod erc20;
    pub mod ownable;
    pub mod pausable;
}

pub mod math {
    pub mod fixed;
    pub mod margin;
    pub mod oracle;
    pub mod pool;
    pub mod votes;
}

/// Test-only contracts (a mintable ERC20 for tests and the demo; the reentrancy attacker's token with
/// hooks). Never deployed on a real network.
pub mod mocks {
    pub mod reentrant_token;
    pub mod test_token;
}

pub mod bridge;
pub mod bridged_token;
pub mod gov_token;
pub mod governance;
pub mod governor;
pub mod margin;
pub mod oracle;
pub mod orders;
pub mod pool;
pub mod vault;
