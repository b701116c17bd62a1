"""Listeners and rules (§7.3): one listener per port per load balancer, rule priorities unique per
listener (1–50000), and a default rule per listener that carries the listener's default actions.

The default rule is created with its listener, shown last by DescribeRules with ``IsDefault`` and
``Priority: "default"``, follows ModifyListener's DefaultActions, and cannot be deleted or moved.
Every write rewrites the store's links from the listener or rule to the groups it forwards to.
"""

from __future__ import annotations

from typing import Any

from ecslite.providers.base import Params, RequestContext
from ecslite.providers.elbv2 import errors
from ecslite.providers.elbv2.actions import forwarded_groups, normal_actions, normal_conditions
from ecslite.providers.elbv2.certificates import CertificateOps
from ecslite.providers.elbv2.common import Doc, in_partition, new_id, paged
from ecslite.store import elbv2 as store


class ListenerOps(CertificateOps):
    def _actions(self, ctx: RequestContext, actions: list[Doc]) -> list[Doc]:
        def exists(arn: str) -> bool:
            return in_partition(ctx, arn) and store.get_target_group(self.db, arn) is not None

        return normal_actions(actions, exists)

    # -- listeners ---------------------------------------------------------------------------

    def create_listener(self, ctx: RequestContext, params: Params) -> Doc:
        lb = self.load_balancer(ctx, params["LoadBalancerArn"])
        port = params["Port"]
        protocol = params.get("Protocol", "HTTP")
        if protocol not in ("HTTP", "HTTPS"):
            raise errors.validation(f"Protocol '{protocol}' is not supported by application load balancers")
        if protocol == "HTTPS":
            certificates = self.default_certificate(ctx, params.get("Certificates"))
            ssl_policy = self.check_ssl_policy(params.get("SslPolicy"))
        actions = self._actions(ctx, params["DefaultActions"])
        if store.listener_on_port(self.db, lb["LoadBalancerArn"], port) is not None:
            raise errors.ElbError("DuplicateListener", errors.DUPLICATE_LISTENER.format(arn=lb["LoadBalancerArn"]))
        lb_path = lb["LoadBalancerArn"].split(":loadbalancer/", 1)[1]
        listener_id = new_id()
        doc: Doc = {
            "ListenerArn": lb["LoadBalancerArn"].replace(":loadbalancer/", ":listener/") + f"/{listener_id}",
            "LoadBalancerArn": lb["LoadBalancerArn"],
            "Port": port,
            "Protocol": protocol,
            "DefaultActions": actions,
        }
        if protocol == "HTTPS":
            doc["Certificates"] = certificates
            doc["SslPolicy"] = ssl_policy
        rule = {
            "RuleArn": lb["LoadBalancerArn"].split(":loadbalancer/")[0]
            + f":listener-rule/{lb_path}/{listener_id}/{new_id()}",
            "Priority": "default",
            "Conditions": [],
            "Actions": actions,
            "IsDefault": True,
        }
        with self.db.transaction():
            store.insert_listener(self.db, ctx.account, ctx.region, doc)
            store.insert_rule(self.db, ctx.account, ctx.region, doc["ListenerArn"], None, rule)
            store.set_links(self.db, doc["ListenerArn"], lb["LoadBalancerArn"], forwarded_groups(actions))
            if params.get("Tags"):
                self.put_tags(doc["ListenerArn"], params["Tags"])
        return {"Listeners": [doc]}

    def describe_listeners(self, ctx: RequestContext, params: Params) -> Doc:
        arns = params.get("ListenerArns")
        if params.get("LoadBalancerArn"):
            lb = self.load_balancer(ctx, params["LoadBalancerArn"])
            docs = store.listeners_of(self.db, lb["LoadBalancerArn"])
            if arns:
                docs = [d for d in docs if d["ListenerArn"] in set(arns)]
        elif arns:
            docs = [self.listener(ctx, arn) for arn in dict.fromkeys(arns)]
        else:
            raise errors.validation("You must specify either listener ARNs or a load balancer ARN")
        if arns and len(docs) < len(set(arns)):
            raise errors.listener_not_found()
        return paged("Listeners", params, list(enumerate(docs)), lambda d: d)

    def modify_listener(self, ctx: RequestContext, params: Params) -> Doc:
        doc = self.listener(ctx, params["ListenerArn"])
        port = params.get("Port")
        if port is not None and port != doc["Port"]:
            if store.listener_on_port(self.db, doc["LoadBalancerArn"], port) is not None:
                raise errors.validation(errors.LISTENER_PORT_IN_USE.format(port=port))
            doc["Port"] = port
        if params.get("Protocol"):
            if params["Protocol"] not in ("HTTP", "HTTPS"):
                raise errors.validation(
                    f"Protocol '{params['Protocol']}' is not supported by application load balancers"
                )
            doc["Protocol"] = params["Protocol"]
        if params.get("Certificates"):
            doc["Certificates"] = self.default_certificate(ctx, params["Certificates"])
        if params.get("SslPolicy"):
            doc["SslPolicy"] = self.check_ssl_policy(params["SslPolicy"])
        if doc["Protocol"] == "HTTP":
            for key in ("Certificates", "SslPolicy", "ListenerCertificates"):
                doc.pop(key, None)
        else:
            doc["Certificates"] = self.default_certificate(ctx, doc.get("Certificates"))
            doc.setdefault("SslPolicy", self.check_ssl_policy(None))
        if params.get("DefaultActions"):
            doc["DefaultActions"] = self._actions(ctx, params["DefaultActions"])
        with self.db.transaction():
            store.put_listener(self.db, doc)
            default = self._default_rule(doc["ListenerArn"])
            store.put_rule(self.db, None, {**default, "Actions": doc["DefaultActions"]})
            store.set_links(
                self.db, doc["ListenerArn"], doc["LoadBalancerArn"], forwarded_groups(doc["DefaultActions"])
            )
        return {"Listeners": [doc]}

    def delete_listener(self, ctx: RequestContext, params: Params) -> Doc:
        self.listener(ctx, params["ListenerArn"])
        with self.db.transaction():
            store.delete_listener(self.db, params["ListenerArn"])
        return {}

    def _default_rule(self, listener_arn: str) -> Doc:
        return next(r for r in store.rules_of(self.db, listener_arn) if r.get("IsDefault"))

    # -- rules -------------------------------------------------------------------------------

    def create_rule(self, ctx: RequestContext, params: Params) -> Doc:
        listener = self.listener(ctx, params["ListenerArn"])
        priority = params["Priority"]
        conditions = normal_conditions(params["Conditions"])
        if not conditions:
            raise errors.validation("A rule must have at least one condition")
        actions = self._actions(ctx, params["Actions"])
        if store.rule_with_priority(self.db, listener["ListenerArn"], priority) is not None:
            raise errors.ElbError("PriorityInUse", errors.PRIORITY_IN_USE.format(priority=priority))
        base = listener["ListenerArn"].replace(":listener/", ":listener-rule/")
        doc: Doc = {
            "RuleArn": f"{base}/{new_id()}",
            "Priority": str(priority),
            "Conditions": conditions,
            "Actions": actions,
            "IsDefault": False,
        }
        with self.db.transaction():
            store.insert_rule(self.db, ctx.account, ctx.region, listener["ListenerArn"], priority, doc)
            store.set_links(self.db, doc["RuleArn"], listener["LoadBalancerArn"], forwarded_groups(actions))
            if params.get("Tags"):
                self.put_tags(doc["RuleArn"], params["Tags"])
        return {"Rules": [doc]}

    def describe_rules(self, ctx: RequestContext, params: Params) -> Doc:
        arns = params.get("RuleArns")
        if params.get("ListenerArn"):
            listener = self.listener(ctx, params["ListenerArn"])
            docs = store.rules_of(self.db, listener["ListenerArn"])
            if arns:
                docs = [d for d in docs if d["RuleArn"] in set(arns)]
                if len(docs) < len(set(arns)):
                    raise errors.rule_not_found()
        elif arns:
            docs = [self.rule(ctx, arn)[1] for arn in dict.fromkeys(arns)]
        else:
            raise errors.validation("You must specify either listener rule ARNs or a listener ARN")
        return paged("Rules", params, list(enumerate(docs)), lambda d: d)

    def modify_rule(self, ctx: RequestContext, params: Params) -> Doc:
        listener_arn, doc = self.rule(ctx, params["RuleArn"])
        if params.get("Conditions") is not None:
            if doc["IsDefault"]:
                raise errors.ElbError("OperationNotPermitted", "The default rule cannot have conditions")
            doc["Conditions"] = normal_conditions(params["Conditions"])
        if params.get("Actions"):
            doc["Actions"] = self._actions(ctx, params["Actions"])
        listener = self.listener(ctx, listener_arn)
        priority = None if doc["IsDefault"] else int(doc["Priority"])
        with self.db.transaction():
            store.put_rule(self.db, priority, doc)
            store.set_links(self.db, doc["RuleArn"], listener["LoadBalancerArn"], forwarded_groups(doc["Actions"]))
            if doc["IsDefault"]:
                store.put_listener(self.db, {**listener, "DefaultActions": doc["Actions"]})
                store.set_links(self.db, listener_arn, listener["LoadBalancerArn"], forwarded_groups(doc["Actions"]))
        return {"Rules": [doc]}

    def delete_rule(self, ctx: RequestContext, params: Params) -> Doc:
        _, doc = self.rule(ctx, params["RuleArn"])
        if doc["IsDefault"]:
            raise errors.ElbError("OperationNotPermitted", f"Default rule '{doc['RuleArn']}' cannot be deleted")
        with self.db.transaction():
            store.delete_rule(self.db, doc["RuleArn"])
        return {}

    def set_rule_priorities(self, ctx: RequestContext, params: Params) -> Doc:
        moves: list[tuple[str, Doc, int]] = []
        for pair in params["RulePriorities"]:
            listener_arn, doc = self.rule(ctx, pair["RuleArn"])
            if doc["IsDefault"]:
                raise errors.ElbError("OperationNotPermitted", f"Default rule '{doc['RuleArn']}' cannot be modified")
            moves.append((listener_arn, doc, pair["Priority"]))
        final: dict[tuple[str, int], str] = {}
        moving = {doc["RuleArn"] for _, doc, _ in moves}
        for listener_arn, doc, priority in moves:
            key = (listener_arn, priority)
            if key in final and final[key] != doc["RuleArn"]:
                raise errors.ElbError("PriorityInUse", errors.PRIORITY_IN_USE.format(priority=priority))
            final[key] = doc["RuleArn"]
            holder = store.rule_with_priority(self.db, listener_arn, priority)
            if holder is not None and holder["RuleArn"] not in moving:
                raise errors.ElbError("PriorityInUse", errors.PRIORITY_IN_USE.format(priority=priority))
        shown: list[Any] = []
        with self.db.transaction():
            for _, doc, _ in moves:  # free every moved priority first: swaps are allowed
                store.put_rule(self.db, None, doc)
            for _, doc, priority in moves:
                doc = {**doc, "Priority": str(priority)}
                store.put_rule(self.db, priority, doc)
                shown.append(doc)
        return {"Rules": shown}
