import FlowCore
import ZeroMQ
