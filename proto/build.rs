//! Generates the tonic client and server for the internal master<->agent
//! service. The messages are hand-written prost structs in `src/internal.rs`,
//! so no `protoc` is needed to build Strata.

fn main() {
    let connect = tonic_build::manual::Method::builder()
        .name("connect")
        .route_name("Connect")
        .input_type("crate::internal::AgentMessage")
        .output_type("crate::internal::MasterMessage")
        .codec_path("tonic::codec::ProstCodec")
        .client_streaming()
        .server_streaming()
        .build();
    let service = tonic_build::manual::Service::builder()
        .name("AgentLink")
        .package("strata.internal")
        .comment("One bidirectional stream per agent: the agent's registration, heartbeats and status updates one way; the master's run, kill, acknowledge and shutdown commands the other.")
        .method(connect)
        .build();
    tonic_build::manual::Builder::new().compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
