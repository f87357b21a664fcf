//! Processes: named processes run by the workers with parameters, now,
//! synchronously or on Quartz cron schedules, and followed by id until they
//! return their outputs. One capability behind three wire protocols: RM
//! wsProcess (SOAP), Creatio ProcessEngineService and the Robusta scheduler
//! connector API.

pub mod control;
pub mod definition;
pub mod jobs;
pub mod rm_params;
pub mod schedule;
pub mod soap;
pub mod store;
