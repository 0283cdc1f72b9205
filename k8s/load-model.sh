#!/usr/bin/env bash
# Copies a GGUF model onto the moeflow-models volume: starts a short-lived pod that mounts the claim, copies the
# file with `kubectl cp` (under a temporary name, renamed when complete, so a replica never maps half a file),
# then removes the pod. The claim must be writable here (ReadWriteOnce or ReadWriteMany); a ReadOnlyMany volume
# is filled beforehand, from a snapshot for instance.
# Usage: k8s/load-model.sh NAMESPACE MODEL.gguf [NAME-ON-VOLUME]
#   k8s/load-model.sh moeflow-dev models/stories260K/stories260K.gguf
# The replicas then read it from /models/NAME-ON-VOLUME (MOEFLOW_MODEL_PATH in the overlay's ConfigMap).
set -euo pipefail
if [ "$#" -lt 2 ]; then
  echo "usage: $0 NAMESPACE MODEL.gguf [NAME-ON-VOLUME]" >&2
  exit 2
fi
ns="$1"
file="$2"
name="${3:-$(basename "$file")}"
[ -f "$file" ] || { echo "$0: no such file: $file" >&2; exit 2; }
pod=moeflow-model-loader

kubectl -n "$ns" apply -f - <<EOF
apiVersion: v1
kind: Pod
metadata:
  name: ${pod}
  labels:
    app.kubernetes.io/name: moeflow-model-loader
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
  containers:
    - name: loader
      image: busybox:1.37
      command: ["sleep", "3600"]
      volumeMounts:
        - name: models
          mountPath: /models
  volumes:
    - name: models
      persistentVolumeClaim:
        claimName: moeflow-models
EOF
trap 'kubectl -n "$ns" delete pod "$pod" --ignore-not-found --wait=false' EXIT
kubectl -n "$ns" wait --for=condition=Ready "pod/$pod" --timeout=300s
kubectl -n "$ns" cp "$file" "$pod:/models/$name.partial"
kubectl -n "$ns" exec "$pod" -- mv "/models/$name.partial" "/models/$name"
echo "copied $file to /models/$name of the moeflow-models volume in namespace $ns"
