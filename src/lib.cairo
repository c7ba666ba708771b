//! Fulcrum: an automated margin protocol for Starknet.
//! The whole Cairo module tree is declared here so the architecture reads at a glance.

pub mod interfaces {
    pub mod ibridge;
    pub mod ierc20;
    pub mod igovernance;
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
}

/// Test-only contracts (a mintable ERC20 for tests and the demo). Never deployed on a real network.
pub mod mocks {
    pub mod test_token;
}

pub mod bridge;
pub mod bridged_token;
pub mod governance;
pub mod margin;
pub mod oracle;
pub mod orders;
pub mod pool;
pub mod vault;
