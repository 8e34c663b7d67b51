"""The rosapi services (ROS 2 Jazzy shapes) and the sim's own services.

Each handler takes the request ``args`` and returns the response ``values``; raising
``ServiceFailure`` makes the bridge answer ``result: false`` with the message as ``values``,
exactly as rosbridge does with ``str(exception)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import interfaces
from . import messages as m
from .engine import ACTION, ACTION_TYPE, NODE, TOPICS

if TYPE_CHECKING:
    from .bridge import RosbridgeServer

NODES = (
    "/bt_navigator",
    "/map_server",
    "/robot_state_publisher",
    "/rosapi",
    "/rosapi_params",
    "/rosbridge_websocket",
    NODE,
)
PARAM_NODES = (NODE, "/bt_navigator", "/map_server")


class ServiceFailure(Exception):
    """The service ran and failed; its text goes to the client as ``values``."""


Handler = Callable[["RosbridgeServer", dict[str, Any]], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}
SERVICE_TYPES: dict[str, str] = {}
SERVICE_NODES: dict[str, str] = {}


def service(name: str, type_: str, node: str = "/rosapi") -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        SERVICE_TYPES[name] = type_
        SERVICE_NODES[name] = node
        return fn

    return register


def _arg(args: dict[str, Any], key: str, default: Any = "") -> Any:
    value = args.get(key, default)
    if not isinstance(value, type(default)):
        raise ServiceFailure(f"field '{key}' must be {type(default).__name__}, got {value!r}")
    return value


def topic_types(srv: RosbridgeServer, hidden: bool = False) -> dict[str, str]:
    out = {t: i.type for t, i in TOPICS.items() if hidden or not i.hidden}
    out.update(srv.dynamic_topics)
    return dict(sorted(out.items()))


# ------------------------------------------------------------------------- rosapi
@service("/rosapi/get_ros_version", "rosapi_msgs/srv/GetROSVersion")
def _version(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"version": 2, "distro": "jazzy"}


@service("/rosapi/topics", "rosapi_msgs/srv/Topics")
def _topics(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    types = topic_types(srv)
    return {"topics": list(types), "types": list(types.values())}


@service("/rosapi/topics_and_raw_types", "rosapi_msgs/srv/TopicsAndRawTypes")
def _topics_raw(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    types = topic_types(srv)
    return {
        "topics": list(types),
        "types": list(types.values()),
        "typedefs_full_text": [""] * len(types),
    }


@service("/rosapi/topics_for_type", "rosapi_msgs/srv/TopicsForType")
def _topics_for_type(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    want = interfaces.normalize(_arg(args, "type"))
    return {"topics": [t for t, ty in topic_types(srv).items() if interfaces.normalize(ty) == want]}


@service("/rosapi/topic_type", "rosapi_msgs/srv/TopicType")
def _topic_type(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": topic_types(srv, hidden=True).get(_arg(args, "topic"), "")}


@service("/rosapi/publishers", "rosapi_msgs/srv/Publishers")
def _publishers(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    info = TOPICS.get(_arg(args, "topic"))
    pubs = list(info.publishers) if info else []
    if _arg(args, "topic") in srv.dynamic_topics or (info and srv.advertisers(args["topic"])):
        pubs.append("/rosbridge_websocket")
    return {"publishers": pubs}


@service("/rosapi/subscribers", "rosapi_msgs/srv/Subscribers")
def _subscribers(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    topic = _arg(args, "topic")
    info = TOPICS.get(topic)
    subs = list(info.subscribers) if info else []
    if srv.subscribed(topic):
        subs.append("/rosbridge_websocket")
    return {"subscribers": subs}


@service("/rosapi/message_details", "rosapi_msgs/srv/MessageDetails")
def _message_details(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"typedefs": interfaces.typedefs(_arg(args, "type"))}


@service("/rosapi/services", "rosapi_msgs/srv/Services")
def _services(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"services": sorted(HANDLERS)}


@service("/rosapi/services_for_type", "rosapi_msgs/srv/ServicesForType")
def _services_for_type(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    want = interfaces.normalize(_arg(args, "type"))
    return {"services": sorted(s for s, t in SERVICE_TYPES.items() if interfaces.normalize(t) == want)}


@service("/rosapi/service_type", "rosapi_msgs/srv/ServiceType")
def _service_type(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": SERVICE_TYPES.get(_arg(args, "service"), "")}


def _srv_details(args: dict[str, Any], part: str) -> dict[str, Any]:
    short = interfaces.normalize(_arg(args, "type"))
    return {"typedefs": interfaces.typedefs(f"{short}_{part}")}


@service("/rosapi/service_request_details", "rosapi_msgs/srv/ServiceRequestDetails")
def _srv_req(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return _srv_details(args, "Request")


@service("/rosapi/service_response_details", "rosapi_msgs/srv/ServiceResponseDetails")
def _srv_resp(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return _srv_details(args, "Response")


@service("/rosapi/service_node", "rosapi_msgs/srv/ServiceNode")
def _service_node(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"node": SERVICE_NODES.get(_arg(args, "service"), "")}


@service("/rosapi/service_providers", "rosapi_msgs/srv/ServiceProviders")
def _service_providers(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    node = SERVICE_NODES.get(_arg(args, "service"))
    return {"providers": [node] if node else []}


@service("/rosapi/nodes", "rosapi_msgs/srv/Nodes")
def _nodes(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"nodes": list(NODES)}


@service("/rosapi/node_details", "rosapi_msgs/srv/NodeDetails")
def _node_details(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    node = _arg(args, "node")
    if node not in NODES:  # real Humble rosapi crashes here (#273); we answer empty
        return {"subscribing": [], "publishing": [], "services": []}
    return {
        "subscribing": sorted(t for t, i in TOPICS.items() if node in i.subscribers),
        "publishing": sorted(t for t, i in TOPICS.items() if node in i.publishers),
        "services": sorted(s for s, n in SERVICE_NODES.items() if n == node),
    }


@service("/rosapi/action_servers", "rosapi_msgs/srv/GetActionServers")
def _action_servers(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"action_servers": [ACTION]}


@service("/rosapi/action_type", "rosapi_msgs/srv/ActionType")
def _action_type(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"type": ACTION_TYPE if _arg(args, "action") == ACTION else ""}


@service("/rosapi/interfaces", "rosapi_msgs/srv/Interfaces")
def _interfaces(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    msgs = [
        interfaces.full_name(n)
        for n in interfaces.MESSAGES
        if not n.endswith(("_Request", "_Response", "_Goal", "_Result", "_Feedback", "_FeedbackMessage"))
    ]
    srvs = [interfaces.full_name(n, "srv") for n in interfaces.SERVICES]
    acts = [interfaces.full_name(n, "action") for n in interfaces.ACTIONS]
    return {"interfaces": sorted(msgs + srvs + acts)}


def _action_details(args: dict[str, Any], part: str) -> dict[str, Any]:
    short = interfaces.normalize(_arg(args, "type"))
    if short not in interfaces.ACTIONS:
        return {"typedefs": []}  # unknown type: empty, never a crash (rosbridge PR #1239)
    return {"typedefs": interfaces.typedefs(f"{short}_{part}")}


@service("/rosapi/action_goal_details", "rosapi_msgs/srv/ActionGoalDetails")
def _goal_details(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return _action_details(args, "Goal")


@service("/rosapi/action_result_details", "rosapi_msgs/srv/ActionResultDetails")
def _result_details(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return _action_details(args, "Result")


@service("/rosapi/action_feedback_details", "rosapi_msgs/srv/ActionFeedbackDetails")
def _feedback_details(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return _action_details(args, "Feedback")


@service("/rosapi/get_param", "rosapi_msgs/srv/GetParam", "/rosapi_params")
def _get_param(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    name = _arg(args, "name")
    params = srv.sim.params
    if name in params:
        return {"value": json.dumps(params[name]), "successful": True, "reason": ""}
    default = args.get("default_value", "")
    reason = (
        f"Parameter {name} does not exist"
        if ":" in name
        else f"malformed name {name!r}: expected /node:param"
    )
    return {
        "value": default if isinstance(default, str) else "",
        "successful": False,
        "reason": reason,
    }


@service("/rosapi/set_param", "rosapi_msgs/srv/SetParam", "/rosapi_params")
def _set_param(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    ok, reason = srv.sim.set_param(_arg(args, "name"), _arg(args, "value"))
    return {"successful": ok, "reason": reason}


@service("/rosapi/has_param", "rosapi_msgs/srv/HasParam", "/rosapi_params")
def _has_param(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"exists": _arg(args, "name") in srv.sim.params}


@service("/rosapi/delete_param", "rosapi_msgs/srv/DeleteParam", "/rosapi_params")
def _delete_param(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    name = _arg(args, "name")
    if name not in srv.sim.params:
        return {"successful": False, "reason": f"Parameter {name} does not exist"}
    del srv.sim.params[name]
    return {"successful": True, "reason": ""}


@service("/rosapi/get_param_names", "rosapi_msgs/srv/GetParamNames", "/rosapi_params")
def _param_names(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    return {"names": sorted(srv.sim.params)}


@service("/rosapi/get_time", "rosapi_msgs/srv/GetTime")
def _get_time(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    from .messages import stamp

    return {"time": stamp(srv.sim.stamp_time())}


# ------------------------------------------------------------- the sim's services
@service("/reset_sim", "std_srvs/srv/Empty", NODE)
def _reset(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    srv.sim.reset()
    srv.sim.publish_status()
    return {}


@service(f"{ACTION}/_action/cancel_goal", "action_msgs/srv/CancelGoal", "/bt_navigator")
def _cancel_goal(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
    """Nav2's own cancel service: it cancels goals whoever sent them (the rosbridge
    ``cancel_action_goal`` op reaches only goals its connection sent, on a real rosbridge)."""
    try:
        info = interfaces.from_json("action_msgs/CancelGoal_Request", args)["goal_info"]
    except (interfaces.NonexistentFieldError, interfaces.FieldTypeError) as exc:
        raise ServiceFailure(str(exc)) from None
    raw = info["goal_id"]["uuid"]
    if len(raw) != 16 or any(not isinstance(b, int) or not 0 <= b <= 255 for b in raw):
        raise ServiceFailure("goal_info.goal_id.uuid must be 16 bytes")
    uuid = bytes(raw)
    stamp = info["stamp"]["sec"] + info["stamp"]["nanosec"] * 1e-9
    code, goals = srv.sim.cancel_request(uuid, stamp)
    return {
        "return_code": code,
        "goals_canceling": [m.goal_status(g.uuid, srv.sim.epoch + g.stamp, 0)["goal_info"] for g in goals],
    }


def _list_parameters(node: str) -> Handler:
    def handler(srv: RosbridgeServer, args: dict[str, Any]) -> dict[str, Any]:
        prefixes = args.get("prefixes") or []
        names = [k.split(":", 1)[1] for k in srv.sim.params if k.startswith(node + ":")]
        if prefixes:
            names = [n for n in names if any(n.startswith(p) for p in prefixes)]
        return {"result": {"names": sorted(names), "prefixes": []}}  # bare, as in ROS 2

    return handler


for _node in PARAM_NODES:
    service(f"{_node}/list_parameters", "rcl_interfaces/srv/ListParameters", _node)(_list_parameters(_node))
